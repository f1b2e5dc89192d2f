/// RFC 9110's byte classes, written again here so the harnesses judge the parsers' output by the RFC and not by
/// the tables the parsers themselves use.
public enum HTTPBytes {
    /// tchar: what a method, a field name or a chunk extension name is made of.
    public static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// field-vchar, SP or HTAB: never CR, LF, NUL or another control byte, which could split a forwarded header.
    public static func isFieldValue(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }

    /// Whether `bytes[range]` is a field value as it must be forwarded: field bytes, trimmed of SP and HTAB.
    public static func isTrimmedFieldValue(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        let value = bytes[range]
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        return value.allSatisfy(isFieldValue) && !(value.first.map(isBlank) ?? false)
            && !(value.last.map(isBlank) ?? false)
    }

    /// Checks what every parsed field must be: ranges inside the head, a token name, a trimmed value.
    public static func checkFields(_ fields: [(name: Range<Int>, value: Range<Int>)], in bytes: [UInt8]) {
        for field in fields {
            precondition(field.name.isWithin(bytes.count) && field.value.isWithin(bytes.count), "field out of the head")
            precondition(!field.name.isEmpty && bytes[field.name].allSatisfy(isToken), "field name is not a token")
            precondition(isTrimmedFieldValue(bytes, field.value), "field value holds a forbidden byte")
            precondition(field.name.upperBound <= field.value.lowerBound, "field value before its name")
        }
    }

    /// Whether `text` spells `lowercase`, ignoring ASCII case.
    public static func equalsIgnoringCase(_ text: String, _ lowercase: String) -> Bool {
        text.utf8.count == lowercase.utf8.count
            && zip(text.utf8, lowercase.utf8).allSatisfy { ($0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0) == $1 }
    }
}
