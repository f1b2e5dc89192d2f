/// RFC 9110 character classes as 256-entry tables: one load per byte on the hot path.
enum ByteClass {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let sp: UInt8 = 32
    static let htab: UInt8 = 9
    static let colon: UInt8 = 58

    /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    static let token: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for char in "!#$%&'*+-.^_`|~".utf8 { table[Int(char)] = true }
        return table
    }()

    /// field-vchar, SP and HTAB: what a header value may hold (obs-text allowed, as RFC 9110 §5.5 does).
    static let fieldValue: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        table[9] = true
        for byte in 32...126 { table[byte] = true }
        for byte in 128...255 { table[byte] = true }
        return table
    }()

    /// Visible ASCII: what a request-target may hold. Non-ASCII must be percent-encoded.
    static let target: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in 33...126 { table[byte] = true }
        return table
    }()

    /// reg-name / IPv4 / IP-literal characters with an optional ":port" (RFC 3986 §3.2.2).
    static let host: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for char in "-._~!$&'()*+,;=%:[]".utf8 { table[Int(char)] = true }
        return table
    }()

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        (byte >= 65 && byte <= 90) ? byte | 0x20 : byte
    }
}

extension UnsafeRawBufferPointer {
    /// Case-insensitive comparison of an ASCII range against a lowercase literal.
    @inline(__always)
    func equalsLowercase(_ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        let literal = lowercase.utf8Start
        var index = 0
        for position in range {
            if ByteClass.lowercased(self[position]) != literal[index] { return false }
            index += 1
        }
        return true
    }
}
