/// X-Request-Id rules: a client's id is kept if it is at most 128 of `[A-Za-z0-9._-]`, otherwise a UUID is made.
public enum RequestID {
    public static let maxLength = 128

    public static func isAcceptable<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
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

    /// The client's id when acceptable, else a new random (version 4) UUID.
    public static func forRequest(_ head: RequestHead) -> String {
        let field = head.bytes.withUnsafeBytes { raw in head.fields.first { raw.equalsLowercase($0.name, "x-request-id") } }
        if let field, isAcceptable(head.bytes[field.value]) { return head.string(field.value) }
        return makeUUID()
    }

    public static func makeUUID() -> String {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0xF000) | 0x4000  // version 4
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48)  // RFC 4122 variant
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: UInt8(ascii: "-"), count: 36)
        var index = 0
        for (word, shiftBase) in [(high, 60), (low, 60)] {
            var shift = shiftBase
            while shift >= 0 {
                if index == 8 || index == 13 || index == 18 || index == 23 { index += 1 }
                out[index] = hex[Int((word >> UInt64(shift)) & 0xF)]
                index += 1
                shift -= 4
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
