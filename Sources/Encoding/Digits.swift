/// Numbers written as ASCII digits straight into a byte buffer: chunk sizes, status codes, lengths and the
/// access line's figures. The digits are counted first and written in place, so that nothing is reversed
/// through a temporary slice (which allocated on every call).
package enum Digits {
    package static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        var scale: UInt64 = 1
        while value / scale >= 10 { scale *= 10 }
        var remaining = value
        while scale > 0 {
            out.append(UInt8(ascii: "0") + UInt8(remaining / scale))
            remaining %= scale
            scale /= 10
        }
    }

    package static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        appendDecimal(UInt64(value.magnitude), to: &out)
    }

    /// At least `width` digits, with leading zeros: the fraction of a millisecond, "042".
    package static func appendDecimal(_ value: UInt64, width: Int, to out: inout [UInt8]) {
        var scale: UInt64 = 1
        var digits = 1
        while value / scale >= 10 {
            scale *= 10
            digits += 1
        }
        if digits < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits)) }
        appendDecimal(value, to: &out)
    }

    package static func appendLowercaseHex(_ value: UInt64, to out: inout [UInt8]) {
        var shift = 0
        while shift < 60 && value >> UInt64(shift + 4) != 0 { shift += 4 }
        while shift >= 0 {
            out.append(Hex.lowercaseDigit(UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & 0xF)))
            shift -= 4
        }
    }
}
