/// RFC 9110 character classes, tested per byte on the hot path.
enum ByteClass {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let sp: UInt8 = 32
    static let htab: UInt8 = 9
    static let colon: UInt8 = 58

    /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool {
        inASCIISet(byte, low: 0x03ff_6cfa_0000_0000, high: 0x57ff_ffff_c7ff_fffe)
    }

    /// field-vchar, SP and HTAB: what a header value may hold (obs-text allowed, as RFC 9110 §5.5 does).
    @inline(__always)
    static func isFieldValue(_ byte: UInt8) -> Bool {
        byte == htab || (byte >= sp && byte != 127)
    }

    /// Visible ASCII: what a request-target may hold. Non-ASCII must be percent-encoded.
    @inline(__always)
    static func isTarget(_ byte: UInt8) -> Bool {
        byte >= 33 && byte <= 126
    }

    /// reg-name / IPv4 / IP-literal characters with an optional ":port" (RFC 3986 §3.2.2).
    @inline(__always)
    static func isHost(_ byte: UInt8) -> Bool {
        inASCIISet(byte, low: 0x2fff_7ff2_0000_0000, high: 0x47ff_fffe_afff_fffe)
    }

    /// Membership in a set of ASCII bytes given as a 128-bit mask: constants in the code, no table to load
    /// (a global table costs a lazy-initialization check on every byte).
    @inline(__always)
    private static func inASCIISet(_ byte: UInt8, low: UInt64, high: UInt64) -> Bool {
        if byte < 64 { return (low >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (high >> UInt64(byte &- 64)) & 1 == 1 }
        return false
    }

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        (byte >= 65 && byte <= 90) ? byte | 0x20 : byte
    }
}

extension UnsafeRawBufferPointer {
    /// Case-insensitive comparison of an ASCII range against a lowercase literal.
    @inline(__always)
    package func equalsLowercase(_ range: Range<Int>, _ lowercase: StaticString) -> Bool {
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

/// RFC 9110 syntax checked on text that does not come off the wire: the configuration's methods and field names.
package enum FieldSyntax {
    /// A token (RFC 9110 §5.6.2): what a method and a field name are made of.
    package static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(ByteClass.isToken)
    }
}
