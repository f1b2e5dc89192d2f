/// base64url without padding (RFC 7515 §2), decoded strictly: only the URL-safe alphabet, no padding, no
/// whitespace, and unused trailing bits must be zero, so that each byte string has exactly one encoding.
package enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// A byte outside the alphabet, in `placed`: no value of the alphabet reaches bit 31 at any place.
    private static let outside: UInt32 = 0x8000_0000

    /// Each byte's value in the alphabet already moved to its place in a group of four characters (24 bits):
    /// `placed[256 * place + byte]`, or `outside`. A group is then four lookups or-ed together and one test.
    private static let placed: [UInt32] = {
        var table = [UInt32](repeating: outside, count: 4 * 256)
        for (value, byte) in alphabet.enumerated() {
            for place in 0..<4 { table[256 * place + Int(byte)] = UInt32(value) << (6 * (3 - place)) }
        }
        return table
    }()

    /// How many bytes a text of `count` characters decodes to, or nil for a length no base64url text has.
    package static func decodedCount(_ count: Int) -> Int? {
        count % 4 == 1 ? nil : count / 4 * 3 + max(0, count % 4 - 1)
    }

    /// Decodes `text` into the start of `out`, which holds at least `decodedCount(text.count)` bytes, and
    /// returns how many it wrote, or nil when `text` is not canonical base64url. Nothing is allocated: this
    /// runs on every token.
    package static func decode(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard let count = decodedCount(text.count) else { return nil }
        precondition(out.count >= count, "base64url output buffer too small")
        return placed.withUnsafeBufferPointer { table -> Int? in
            @inline(__always) func place(_ index: Int, _ place: Int) -> UInt32 {
                table[256 &* place &+ Int(text[index])]
            }
            var input = 0
            var output = 0
            let whole = text.count / 4 * 4
            while input < whole {
                let group = place(input, 0) | place(input &+ 1, 1) | place(input &+ 2, 2) | place(input &+ 3, 3)
                guard group & outside == 0 else { return nil }
                out[output] = UInt8(truncatingIfNeeded: group >> 16)
                out[output &+ 1] = UInt8(truncatingIfNeeded: group >> 8)
                out[output &+ 2] = UInt8(truncatingIfNeeded: group)
                input &+= 4
                output &+= 3
            }
            switch text.count - whole {
            case 2:
                let group = place(input, 0) | place(input + 1, 1)
                // The 4 bits past the byte must be zero: "AB" and "AC" must not both decode to the same byte.
                guard group & outside == 0, group & 0x00_FFFF == 0 else { return nil }
                out[output] = UInt8(truncatingIfNeeded: group >> 16)
                output += 1
            case 3:
                let group = place(input, 0) | place(input + 1, 1) | place(input + 2, 2)
                // The 2 bits past the second byte must be zero.
                guard group & outside == 0, group & 0x00_00FF == 0 else { return nil }
                out[output] = UInt8(truncatingIfNeeded: group >> 16)
                out[output + 1] = UInt8(truncatingIfNeeded: group >> 8)
                output += 2
            default:
                break
            }
            return output
        }
    }

    package static func decode<Bytes: Collection<UInt8>>(_ text: Bytes) -> [UInt8]? {
        // One copy into contiguous bytes when the collection has none (a lazy view, a set…); arrays, slices and
        // native strings' UTF-8 are read in place.
        if let decoded = text.withContiguousStorageIfAvailable({ decode(UnsafeRawBufferPointer($0)) }) {
            return decoded
        }
        return Array(text).withUnsafeBytes { decode($0) }
    }

    private static func decode(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let count = decodedCount(text.count) else { return nil }
        var written: Int?
        let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            written = decode(text, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = written ?? 0
        }
        return written == nil ? nil : out
    }

    package static func encode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in bytes {
            accumulator = accumulator << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int((accumulator >> UInt32(bits)) & 0x3F)])
            }
            accumulator &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 { out.append(alphabet[Int((accumulator << UInt32(6 - bits)) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
