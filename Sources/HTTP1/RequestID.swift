import Encoding

/// A request's id (X-Request-Id), held inline: at most 128 bytes of `[A-Za-z0-9._-]`, the client's when acceptable,
/// otherwise a UUID made for the request. Inline because nearly every request gets a UUID, and a `String` of 36
/// bytes would be allocated for each. The UUID's 128 random bits come from the caller: randomness is the
/// system's, and this module touches none of it (the event loops draw from a per-thread buffer of kernel randomness).
package struct RequestID: Sendable {
    package static let maxLength = 128

    private var storage: InlineArray<128, UInt8> = .init(repeating: 0)
    package private(set) var count = 0

    /// No id yet (between exchanges).
    package init() {}

    /// `bytes` must be acceptable (`isAcceptable`).
    private init(acceptable bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
    }

    /// An id given as text (tests make theirs so): nil unless acceptable.
    package init?(_ text: String) {
        var text = text
        let id = text.withUTF8 { utf8 in
            Self.isAcceptable(utf8) ? Self(acceptable: UnsafeRawBufferPointer(utf8)) : nil
        }
        guard let id else { return nil }
        self = id
    }

    /// The id's bytes, valid during the call.
    package func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeBytes(of: storage) { body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// The id as text, for what is not on the request path (event lines).
    package var text: String {
        withBytes { String(decoding: $0, as: UTF8.self) }
    }

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
    package static func forRequest(_ head: RequestHead, random: () -> (UInt64, UInt64)) -> RequestID {
        head.bytes.withUnsafeBytes { raw in
            if let field = head.fields.first(where: { raw.equalsLowercase($0.name, "x-request-id") }),
                isAcceptable(raw[field.value])
            {
                return RequestID(acceptable: UnsafeRawBufferPointer(rebasing: raw[field.value]))
            }
            return uuid(random: random())
        }
    }

    /// The version 4 (random) UUID of RFC 9562 made of `random`'s bits, less the six of version and variant.
    package static func uuid(random: (UInt64, UInt64)) -> RequestID {
        let high = (random.0 & ~0xF000) | 0x4000  // version 4
        let low = (random.1 & ~(0xC000 << 48)) | (0x8000 << 48)  // RFC 4122 variant
        var id = RequestID()
        id.count = 36
        // 8-4-4-4-12 digits, eight at a time from each half of a word (the middle groups four and four): this
        // runs for every request that brings no id.
        let middle = Hex.lowercaseDigits(UInt32(truncatingIfNeeded: high))
        let lowHigh = Hex.lowercaseDigits(UInt32(truncatingIfNeeded: low >> 32))
        withUnsafeMutableBytes(of: &id.storage) { out in
            func eight(_ digits: UInt64, at offset: Int) {
                out.storeBytes(of: digits.littleEndian, toByteOffset: offset, as: UInt64.self)
            }
            func four(_ digits: UInt64, at offset: Int) {
                out.storeBytes(
                    of: UInt32(truncatingIfNeeded: digits).littleEndian, toByteOffset: offset, as: UInt32.self)
            }
            eight(Hex.lowercaseDigits(UInt32(truncatingIfNeeded: high >> 32)), at: 0)
            out[8] = UInt8(ascii: "-")
            four(middle, at: 9)
            out[13] = UInt8(ascii: "-")
            four(middle >> 32, at: 14)
            out[18] = UInt8(ascii: "-")
            four(lowHigh, at: 19)
            out[23] = UInt8(ascii: "-")
            four(lowHigh >> 32, at: 24)
            eight(Hex.lowercaseDigits(UInt32(truncatingIfNeeded: low)), at: 28)
        }
        return id
    }
}
