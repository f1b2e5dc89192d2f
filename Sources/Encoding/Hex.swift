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

    /// The eight lowercase digits of `value`, the most significant in the lowest byte: stored little-endian,
    /// the word is the digits in order. All eight at once, with no branch per digit.
    @inlinable
    public static func lowercaseDigits(_ value: UInt32) -> UInt64 {
        // Each nibble to its own byte, the lowest nibble in the lowest byte; then the first digit goes first.
        var nibbles = UInt64(value)
        nibbles = (nibbles | nibbles << 16) & 0x0000_FFFF_0000_FFFF
        nibbles = (nibbles | nibbles << 8) & 0x00FF_00FF_00FF_00FF
        nibbles = (nibbles | nibbles << 4) & 0x0F0F_0F0F_0F0F_0F0F
        nibbles = nibbles.byteSwapped
        // A byte of 10 or more carries into its bit 4 when 6 is added: those move on from "9" + 1 to "a".
        let letters = ((nibbles &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        return nibbles &+ 0x3030_3030_3030_3030 &+ letters &* UInt64(UInt8(ascii: "a") - UInt8(ascii: "9") - 1)
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
