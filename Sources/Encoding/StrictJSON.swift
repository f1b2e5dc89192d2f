/// A JSON value from a hostile source.
public enum JSONValue: Sendable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

/// An RFC 8259 parser that refuses rather than guesses: no duplicate keys, no trailing bytes, no lone
/// surrogates, no leading zeros, bounded depth. Foundation's parser accepts duplicate keys, and a token whose
/// claims can be read two ways must not be accepted.
public struct StrictJSON {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// A struct, not an enum, so that a new code breaks no caller's switch.
        public struct Code: Sendable, Hashable, CustomStringConvertible {
            private enum Base: String, Sendable {
                case truncated, syntax, tooDeep, duplicateMember, invalidString, invalidNumber
            }

            private let base: Base

            private init(_ base: Base) {
                self.base = base
            }

            /// The text ends inside a value.
            public static let truncated = Code(.truncated)
            /// A byte where JSON allows none (trailing bytes included).
            public static let syntax = Code(.syntax)
            /// Deeper than the caller's `maxDepth`.
            public static let tooDeep = Code(.tooDeep)
            /// An object names a member twice: it could be read two ways.
            public static let duplicateMember = Code(.duplicateMember)
            /// A bad escape, a lone surrogate, a control character or invalid UTF-8 in a string.
            public static let invalidString = Code(.invalidString)
            /// A leading zero, a bare fraction or exponent, or a number too long or out of range.
            public static let invalidNumber = Code(.invalidNumber)

            public var description: String { base.rawValue }
        }

        public let code: Code
        public let description: String
        public let offset: Int
    }

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private let maxDepth: Int

    public static func parse(_ data: [UInt8], maxDepth: Int = 32) throws(ParseError) -> JSONValue {
        let result = data.withUnsafeBytes { raw in
            Result { () throws(ParseError) -> JSONValue in
                var parser = StrictJSON(bytes: raw, maxDepth: maxDepth)
                parser.skipWhitespace()
                let value = try parser.parseValue(depth: 0)
                parser.skipWhitespace()
                guard parser.position == raw.count else { throw parser.error(.syntax, "trailing bytes") }
                return value
            }
        }
        return try result.get()
    }

    private init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func error(_ code: ParseError.Code, _ description: String) -> ParseError {
        ParseError(code: code, description: description, offset: position)
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private func peek() -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    private mutating func expect(_ literal: StaticString) throws(ParseError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error(.truncated, "truncated literal") }
        for index in 0..<count where bytes[position + index] != literal.utf8Start[index] {
            throw error(.syntax, "invalid literal")
        }
        position += count
    }

    private mutating func parseValue(depth: Int) throws(ParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error(.tooDeep, "nested too deeply") }
        guard let byte = peek() else { throw error(.truncated, "unexpected end") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw error(.syntax, "unexpected byte")
        }
    }

    private mutating func parseObject(depth: Int) throws(ParseError) -> JSONValue {
        position += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw error(.syntax, "expected a member name") }
            let key = try parseString()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw error(.syntax, "expected ':'") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            guard members.updateValue(value, forKey: key) == nil else {
                throw error(.duplicateMember, "duplicate member \"\(key)\"")
            }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default: throw error(.syntax, "expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(ParseError) -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            default: throw error(.syntax, "expected ',' or ']'")
            }
        }
    }

    private mutating func parseHex4() throws(ParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error(.truncated, "truncated escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error(.invalidString, "invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    private mutating func parseString() throws(ParseError) -> String {
        position += 1
        var runStart = position
        var plain: [UInt8] = []
        while true {
            guard position < bytes.count else { throw error(.truncated, "unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                plain.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
                position += 1
                break
            }
            if byte < 0x20 { throw error(.invalidString, "control character in string") }
            if byte == UInt8(ascii: "\\") {
                plain.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
                position += 1
                guard let escape = peek() else { throw error(.truncated, "truncated escape") }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): plain.append(escape)
                case UInt8(ascii: "b"): plain.append(0x08)
                case UInt8(ascii: "f"): plain.append(0x0C)
                case UInt8(ascii: "n"): plain.append(0x0A)
                case UInt8(ascii: "r"): plain.append(0x0D)
                case UInt8(ascii: "t"): plain.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw error(.invalidString, "lone high surrogate") }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw error(.invalidString, "invalid low surrogate")
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw error(.invalidString, "lone low surrogate")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error(.invalidString, "invalid code point") }
                    plain.append(contentsOf: Array(String(scalar).utf8))
                default:
                    throw error(.invalidString, "invalid escape")
                }
                runStart = position
                continue
            }
            position += 1
        }
        // Invalid UTF-8 is refused, not repaired.
        guard let text = String(validating: plain, as: UTF8.self) else {
            throw error(.invalidString, "invalid UTF-8 in string")
        }
        return text
    }

    private mutating func parseNumber() throws(ParseError) -> Double {
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        guard let first = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw error(.invalidNumber, "invalid number")
        }
        position += 1
        if first != UInt8(ascii: "0") {
            while let digit = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) { position += 1 }
        } else if let next = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) {
            throw error(.invalidNumber, "leading zero")
        }
        if peek() == UInt8(ascii: ".") {
            position += 1
            let fractionStart = position
            while let digit = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) { position += 1 }
            guard position > fractionStart else { throw error(.invalidNumber, "invalid fraction") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            let exponentStart = position
            while let digit = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) { position += 1 }
            guard position > exponentStart else { throw error(.invalidNumber, "invalid exponent") }
        }
        guard position - start <= 64 else { throw error(.invalidNumber, "number too long") }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw error(.invalidNumber, "number out of range") }
        return value
    }
}
