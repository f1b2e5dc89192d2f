/// A JSON value from a hostile source.
package enum JSONValue: Sendable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    package var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    package var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    package var object: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    package var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

/// An RFC 8259 parser that refuses rather than guesses: no duplicate keys, no trailing bytes, no lone
/// surrogates, no leading zeros, bounded depth. Foundation's parser accepts duplicate keys, and a token whose
/// claims can be read two ways must not be accepted. The lexical rules are JSONCursor's; StrictJSONScanner
/// checks the same grammar without building the tree.
package struct StrictJSON {
    package struct ParseError: Error, Sendable, CustomStringConvertible {
        /// A struct, not an enum, so that a new code breaks no caller's switch.
        package struct Code: Sendable, Hashable, CustomStringConvertible {
            private enum Base: String, Sendable {
                case truncated, syntax, tooDeep, duplicateMember, invalidString, invalidNumber
            }

            private let base: Base

            private init(_ base: Base) {
                self.base = base
            }

            /// The text ends inside a value.
            package static let truncated = Code(.truncated)
            /// A byte where JSON allows none (trailing bytes included).
            package static let syntax = Code(.syntax)
            /// Deeper than the caller's `maxDepth`.
            package static let tooDeep = Code(.tooDeep)
            /// An object names a member twice: it could be read two ways.
            package static let duplicateMember = Code(.duplicateMember)
            /// A bad escape, a lone surrogate, a control character or invalid UTF-8 in a string.
            package static let invalidString = Code(.invalidString)
            /// A leading zero, a bare fraction or exponent, or a number too long or out of range.
            package static let invalidNumber = Code(.invalidNumber)

            package var description: String { base.rawValue }
        }

        package let code: Code
        package let description: String
        package let offset: Int
    }

    private var cursor: JSONCursor
    private let maxDepth: Int

    package static func parse(_ data: [UInt8], maxDepth: Int = 32) throws(ParseError) -> JSONValue {
        let result = data.withUnsafeBytes { raw in
            Result { () throws(ParseError) -> JSONValue in
                var parser = StrictJSON(cursor: JSONCursor(raw), maxDepth: maxDepth)
                parser.cursor.skipWhitespace()
                let value = try parser.parseValue(depth: 0)
                parser.cursor.skipWhitespace()
                guard parser.cursor.position == raw.count else { throw parser.cursor.error(.syntax, "trailing bytes") }
                return value
            }
        }
        return try result.get()
    }

    private mutating func parseValue(depth: Int) throws(ParseError) -> JSONValue {
        guard depth <= maxDepth else { throw cursor.error(.tooDeep, "nested too deeply") }
        guard let byte = cursor.peek() else { throw cursor.error(.truncated, "unexpected end") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try cursor.expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try cursor.expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try cursor.expect("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try cursor.scanNumber().value)
        default:
            throw cursor.error(.syntax, "unexpected byte")
        }
    }

    private mutating func parseObject(depth: Int) throws(ParseError) -> JSONValue {
        cursor.position += 1
        var members: [String: JSONValue] = [:]
        cursor.skipWhitespace()
        if cursor.peek() == UInt8(ascii: "}") {
            cursor.position += 1
            return .object(members)
        }
        while true {
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: "\"") else { throw cursor.error(.syntax, "expected a member name") }
            let key = try parseString()
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: ":") else { throw cursor.error(.syntax, "expected ':'") }
            cursor.position += 1
            cursor.skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            guard members.updateValue(value, forKey: key) == nil else {
                throw cursor.error(.duplicateMember, "duplicate member \"\(key)\"")
            }
            cursor.skipWhitespace()
            switch cursor.peek() {
            case UInt8(ascii: ","): cursor.position += 1
            case UInt8(ascii: "}"):
                cursor.position += 1
                return .object(members)
            default: throw cursor.error(.syntax, "expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(ParseError) -> JSONValue {
        cursor.position += 1
        var elements: [JSONValue] = []
        cursor.skipWhitespace()
        if cursor.peek() == UInt8(ascii: "]") {
            cursor.position += 1
            return .array(elements)
        }
        while true {
            cursor.skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            cursor.skipWhitespace()
            switch cursor.peek() {
            case UInt8(ascii: ","): cursor.position += 1
            case UInt8(ascii: "]"):
                cursor.position += 1
                return .array(elements)
            default: throw cursor.error(.syntax, "expected ',' or ']'")
            }
        }
    }

    private mutating func parseString() throws(ParseError) -> String {
        // Checked whole by the cursor (escapes, surrogates, UTF-8): invalid UTF-8 is refused, not repaired.
        let span = try cursor.scanString()
        return StrictJSONScanner.string(span, in: cursor.bytes)
    }
}
