/// Where one JSON value lies in a text, and what it is: the text is checked and pointed into, never copied.
package struct JSONSpan: Sendable, Equatable {
    package enum Kind: Sendable {
        case object, array, string, number, bool, null
    }

    package let kind: Kind
    /// The value's bytes in the text; for a string, those between its quotes, escapes unresolved.
    package let range: Range<Int>
    /// A string without escapes: its bytes are its UTF-8 as they stand.
    package let isVerbatim: Bool
    /// A string without escapes or bytes above 0x7F: its bytes are its ASCII text as they stand.
    package let isPlainASCII: Bool
    /// A number with neither fraction nor exponent and at most 15 digits: exactly a Double, read without parsing.
    package let isSmallInteger: Bool

    init(_ kind: Kind, _ range: Range<Int>) {
        self.kind = kind
        self.range = range
        isVerbatim = false
        isPlainASCII = false
        isSmallInteger = false
    }

    init(string range: Range<Int>, isVerbatim: Bool, isPlainASCII: Bool) {
        kind = .string
        self.range = range
        self.isVerbatim = isVerbatim
        self.isPlainASCII = isPlainASCII
        isSmallInteger = false
    }

    init(number range: Range<Int>, isSmallInteger: Bool) {
        kind = .number
        self.range = range
        isVerbatim = false
        isPlainASCII = false
        self.isSmallInteger = isSmallInteger
    }
}

/// The lexical rules of strict JSON, in one place: whitespace, literals, strings (escapes, surrogate pairs,
/// UTF-8) and numbers, read in place. StrictJSON builds trees with it; StrictJSONScanner only checks and points.
struct JSONCursor {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    func error(_ code: StrictJSON.ParseError.Code, _ description: String) -> StrictJSON.ParseError {
        StrictJSON.ParseError(code: code, description: description, offset: position)
    }

    func peek() -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: StaticString) throws(StrictJSON.ParseError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error(.truncated, "truncated literal") }
        for index in 0..<count where bytes[position + index] != literal.utf8Start[index] {
            throw error(.syntax, "invalid literal")
        }
        position += count
    }

    /// At an opening quote: checks the string to its closing quote and steps past it. Refused: a control
    /// character, an unknown escape, a lone or misordered surrogate, and UTF-8 that is not well formed
    /// (overlong forms, surrogates, beyond U+10FFFF, truncated sequences).
    mutating func scanString() throws(StrictJSON.ParseError) -> JSONSpan {
        position += 1
        let start = position
        var isVerbatim = true
        var isASCII = true
        while true {
            // Eight bytes at a time while none of them needs a look: most of a token's strings are plain ASCII.
            while position + 8 <= bytes.count,
                !Self.needsLook(bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
            {
                position += 8
            }
            guard position < bytes.count else { throw error(.truncated, "unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let range = start..<position
                position += 1
                return JSONSpan(string: range, isVerbatim: isVerbatim, isPlainASCII: isVerbatim && isASCII)
            }
            if byte < 0x20 { throw error(.invalidString, "control character in string") }
            if byte == UInt8(ascii: "\\") {
                isVerbatim = false
                try scanEscape()
            } else if byte >= 0x80 {
                isASCII = false
                try scanMultibyteCharacter(byte)
            } else {
                position += 1
            }
        }
    }

    /// Whether any of eight bytes is a quote, a backslash, a control character or above 0x7F. Can only say
    /// yes too often (a borrow above a hit), which costs a look, never a miss.
    private static func needsLook(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ value: UInt64) -> UInt64 { (value &- ones) & ~value & highs }
        let quote = hasZeroByte(word ^ (ones &* 0x22))
        let backslash = hasZeroByte(word ^ (ones &* 0x5C))
        let control = (word &- ones &* 0x20) & ~word & highs
        return (quote | backslash | control | (word & highs)) != 0
    }

    /// At a backslash: one escape, a `\u` high surrogate only with its `\u` low surrogate.
    private mutating func scanEscape() throws(StrictJSON.ParseError) {
        position += 1
        guard let escape = peek() else { throw error(.truncated, "truncated escape") }
        position += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return
        case UInt8(ascii: "u"):
            let code = try parseHex4()
            if (0xD800...0xDBFF).contains(code) {
                guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw error(.invalidString, "lone high surrogate") }
                position += 2
                guard (0xDC00...0xDFFF).contains(try parseHex4()) else {
                    throw error(.invalidString, "invalid low surrogate")
                }
            } else if (0xDC00...0xDFFF).contains(code) {
                throw error(.invalidString, "lone low surrogate")
            }
        default:
            throw error(.invalidString, "invalid escape")
        }
    }

    private mutating func parseHex4() throws(StrictJSON.ParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error(.truncated, "truncated escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Hex.value(bytes[position]) else { throw error(.invalidString, "invalid \\u escape") }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// At a byte above 0x7F: one well-formed UTF-8 sequence (Unicode's table 3-7), as Swift's own
    /// `String(validating:)` accepts them.
    private mutating func scanMultibyteCharacter(_ lead: UInt8) throws(StrictJSON.ParseError) {
        let length: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            second = 0x80...0x9F
        case 0xF0:
            length = 4
            second = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            second = 0x80...0x8F
        default: throw error(.invalidString, "invalid UTF-8 in string")
        }
        guard position + length <= bytes.count, second.contains(bytes[position + 1]) else {
            throw error(.invalidString, "invalid UTF-8 in string")
        }
        for offset in 2..<length where !(0x80...0xBF).contains(bytes[position + offset]) {
            throw error(.invalidString, "invalid UTF-8 in string")
        }
        position += length
    }

    /// At a minus or a digit: the number's span and its value. Refused: a leading zero, a bare dot or
    /// exponent, more than 64 characters, and anything Double cannot hold.
    mutating func scanNumber() throws(StrictJSON.ParseError) -> (span: JSONSpan, value: Double) {
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        let digitsStart = position
        guard let first = peek(), Self.isDigit(first) else { throw error(.invalidNumber, "invalid number") }
        position += 1
        if first != UInt8(ascii: "0") {
            while let digit = peek(), Self.isDigit(digit) { position += 1 }
        } else if let next = peek(), Self.isDigit(next) {
            throw error(.invalidNumber, "leading zero")
        }
        var isInteger = position - digitsStart <= 15
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            let fractionStart = position
            while let digit = peek(), Self.isDigit(digit) { position += 1 }
            guard position > fractionStart else { throw error(.invalidNumber, "invalid fraction") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            let exponentStart = position
            while let digit = peek(), Self.isDigit(digit) { position += 1 }
            guard position > exponentStart else { throw error(.invalidNumber, "invalid exponent") }
        }
        guard position - start <= 64 else { throw error(.invalidNumber, "number too long") }
        let span = JSONSpan(number: start..<position, isSmallInteger: isInteger)
        guard let value = Self.number(span, in: bytes), value.isFinite else {
            throw error(.invalidNumber, "number out of range")
        }
        return (span, value)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    /// A number span's value. Up to 15 digits, an integer is exactly a Double (below 2^53): it is read here,
    /// digit by digit; anything else goes through Swift's own parser.
    static func number(_ span: JSONSpan, in text: UnsafeRawBufferPointer) -> Double? {
        let digits = UnsafeRawBufferPointer(rebasing: text[span.range])
        guard span.isSmallInteger else { return Double(String(decoding: digits, as: UTF8.self)) }
        let isNegative = digits.first == UInt8(ascii: "-")
        var magnitude: Int64 = 0
        for digit in digits.dropFirst(isNegative ? 1 : 0) { magnitude = magnitude * 10 + Int64(digit &- 0x30) }
        return isNegative ? -Double(magnitude) : Double(magnitude)
    }

    /// The UTF-8 of a string span's text, escapes resolved. The span must come from `scanString`: its escapes
    /// are known to be well formed.
    static func unescaped(_ span: JSONSpan, in text: UnsafeRawBufferPointer) -> [UInt8] {
        let raw = UnsafeRawBufferPointer(rebasing: text[span.range])
        if span.isVerbatim { return Array(raw) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        func hex4(at start: Int) -> UInt32 {
            raw[start..<(start + 4)].reduce(0) { $0 << 4 | UInt32(Hex.value($1) ?? 0) }
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            let escape = raw[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = hex4(at: index)
                index += 4
                if (0xD800...0xDBFF).contains(code) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (hex4(at: index + 2) - 0xDC00)
                    index += 6
                }
                if let scalar = Unicode.Scalar(code) { out.append(contentsOf: String(scalar).utf8) }
            default: out.append(escape)  // \" \\ \/
            }
        }
        return out
    }
}
