import Encoding

/// X-Request-Id rules: a client's id is kept if it is at most 128 of `[A-Za-z0-9._-]`, otherwise a UUID is made.
/// The UUID's 128 random bits come from the caller: randomness is the system's, and this module touches none of
/// it (the event loops draw from a per-thread buffer of kernel randomness).
package enum RequestID {
    package static let maxLength = 128

    package static func isAcceptable<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    /// The client's id when acceptable, else a new version 4 UUID from `random` (called only then).
    package static func forRequest(_ head: RequestHead, random: () -> (UInt64, UInt64)) -> String {
        let field = head.bytes.withUnsafeBytes { raw in
            head.fields.first { raw.equalsLowercase($0.name, "x-request-id") }
        }
        if let field, isAcceptable(head.bytes[field.value]) { return head.string(field.value) }
        return uuid(random: random())
    }

    /// The version 4 (random) UUID of RFC 9562 made of `random`'s bits, less the six of version and variant.
    package static func uuid(random: (UInt64, UInt64)) -> String {
        let high = (random.0 & ~0xF000) | 0x4000  // version 4
        let low = (random.1 & ~(0xC000 << 48)) | (0x8000 << 48)  // RFC 4122 variant
        return String(unsafeUninitializedCapacity: 36) { out in
            // A byte, two digits, at a time; no array of the two words: this runs for every request without an id.
            var index = 0
            for byteIndex in 0..<16 {
                // 8-4-4-4-12 digits: a dash before the 4th, 6th, 8th and 10th byte.
                if byteIndex == 4 || byteIndex == 6 || byteIndex == 8 || byteIndex == 10 {
                    out[index] = UInt8(ascii: "-")
                    index += 1
                }
                let word = byteIndex < 8 ? high : low
                let byte = UInt8(truncatingIfNeeded: word >> UInt64(56 - 8 * (byteIndex & 7)))
                out[index] = Hex.lowercaseDigit(byte >> 4)
                out[index + 1] = Hex.lowercaseDigit(byte & 0xF)
                index += 2
            }
            return index
        }
    }
}
