/// Hexadecimal digits both ways: chunk sizes, percent-encoding, request ids, SigV4 digests.
/// Public (see `ByteWriter`) only so that the digits inline into other modules.
public enum Hex {
    /// The digit of a value from 0 to 15, by arithmetic: a global table costs a lazy-initialization check on
    /// every use, and these run per byte of chunk sizes, request ids and JSON escapes.
    @inlinable @inline(__always)
    public static func lowercaseDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") - 10 + value
    }

    @inlinable @inline(__always)
    public static func uppercaseDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") - 10 + value
    }

    /// The value of one hex digit (either case), or nil.
    package static func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Bytes as lowercase hex, two digits each.
    package static func lowercase(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(lowercaseDigit(byte >> 4))
            out.append(lowercaseDigit(byte & 0xF))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
