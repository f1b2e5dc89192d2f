/// Numbers written as ASCII digits straight into a `ByteWriter`: chunk sizes, status codes, lengths and the
/// access line's figures. The digits are made from the right into twenty bytes on the stack (`% 10` by a
/// constant compiles to a multiplication; a division by a running scale did not) and copied once.
package enum Digits {
    package static func appendDecimal(_ value: UInt64, to out: ByteWriter) {
        appendDecimal(value, width: 1, to: out)
    }

    package static func appendDecimal(_ value: Int, to out: ByteWriter) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        appendDecimal(UInt64(value.magnitude), to: out)
    }

    /// At least `width` digits (at most 20), with leading zeros: the fraction of a millisecond, "042".
    package static func appendDecimal(_ value: UInt64, width: Int, to out: ByteWriter) {
        // UInt64.max has 20 digits.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = 20
            var remaining = value
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: remaining % 10)
                remaining /= 10
            } while remaining != 0
            while 20 - start < min(width, 20) {
                start -= 1
                digits[start] = UInt8(ascii: "0")
            }
            out.append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[start...]))
        }
    }

    package static func appendLowercaseHex(_ value: UInt64, to out: ByteWriter) {
        var shift = 0
        while shift < 60 && value >> UInt64(shift + 4) != 0 { shift += 4 }
        while shift >= 0 {
            out.append(Hex.lowercaseDigit(UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & 0xF)))
            shift -= 4
        }
    }
}
