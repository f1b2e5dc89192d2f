/// Minimal JSON string escaping for what authgate writes itself: log lines, error bodies, Cognito requests.
package enum JSONText {
    package static func quoted(_ text: String) -> String {
        // Most values (ids, methods, addresses, routes) need no escape: one scan of the bytes, one copy.
        if !text.utf8.contains(where: needsEscape) { return "\"" + text + "\"" }
        var out = "\""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// `contains(where: needsEscape)` eight bytes at a time: every access line quotes a handful of values.
    package static func anyNeedsEscape(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        // High bit of each zero byte, with false flags only above a true one: enough to tell whether any is.
        func zeros(_ word: UInt64) -> UInt64 { (word &- ones) & ~word & high }
        var position = 0
        while position + 8 <= bytes.count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
            let control = (word &- ones &* 0x20) & ~word & high
            let special = zeros(word ^ (ones &* 0x7F)) | zeros(word ^ (ones &* 0x22)) | zeros(word ^ (ones &* 0x5C))
            if control | special != 0 { return true }
            position += 8
        }
        while position < bytes.count {
            if needsEscape(bytes[position]) { return true }
            position += 1
        }
        return false
    }
}

extension JSONText {
    /// Appends `text` as a JSON string to `out`, escaping as `quoted` does, without making a String.
    package static func appendQuoted(_ text: String, to out: ByteWriter) {
        out.append(UInt8(ascii: "\""))
        text.withUTF8Bytes { bytes in
            guard anyNeedsEscape(bytes) else {
                out.append(bytes)
                return
            }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out.append("\\\"" as StaticString)
                case UInt8(ascii: "\\"): out.append("\\\\" as StaticString)
                case 0x0A: out.append("\\n" as StaticString)
                case 0x0D: out.append("\\r" as StaticString)
                case 0x09: out.append("\\t" as StaticString)
                case _ where byte < 0x20 || byte == 0x7F:
                    out.append("\\u00" as StaticString)
                    out.append(Hex.lowercaseDigit(byte >> 4))
                    out.append(Hex.lowercaseDigit(byte & 0xF))
                default:
                    out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
