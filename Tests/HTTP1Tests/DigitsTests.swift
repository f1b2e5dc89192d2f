import Encoding
import Testing

@Suite struct DigitsTests {
    @Test(arguments: [0, 9, 10, 15, 0x0123_4567, 0x89ab_cdef, 0xa0b0_c0d0, 0x0f0f_f0f0, UInt32.max, 0x8000_0001])
    func eightHexDigitsAtOnceAreWhatSwiftPrints(_ value: UInt32) {
        let word = Hex.lowercaseDigits(value).littleEndian
        let text = withUnsafeBytes(of: word) { String(decoding: $0, as: UTF8.self) }
        let printed = String(value, radix: 16)
        #expect(text == String(repeating: "0", count: 8 - printed.count) + printed)
    }

    @Test(arguments: [0, 7, 9, 10, 99, 100, 101, 65_535, 1_000_000, Int.max, -1, -42, Int.min + 1])
    func decimalIsWhatSwiftPrints(_ value: Int) {
        let out = ByteWriter()
        out.append("x=")
        Digits.appendDecimal(value, to: out)
        #expect(String(decoding: out.finish(), as: UTF8.self) == "x=\(value)")
    }

    @Test func theLargestUnsignedValue() {
        let out = ByteWriter()
        Digits.appendDecimal(UInt64.max, to: out)
        #expect(String(decoding: out.finish(), as: UTF8.self) == "\(UInt64.max)")
    }

    @Test(arguments: [(UInt64(0), 3, "000"), (42, 3, "042"), (5, 1, "5"), (123, 2, "123"), (7, 0, "7")])
    func widthPadsWithLeadingZeros(_ value: UInt64, _ width: Int, _ expected: String) {
        let out = ByteWriter()
        Digits.appendDecimal(value, width: width, to: out)
        #expect(String(decoding: out.finish(), as: UTF8.self) == expected)
    }

    @Test func aWriterGrowsPastItsFirstRoom() {
        let out = ByteWriter(capacity: 1)
        for value in 0..<1000 { Digits.appendDecimal(UInt64(value), width: 4, to: out) }
        #expect(out.count == 4000)
        #expect(String(decoding: out.finish().suffix(8), as: UTF8.self) == "09980999")
    }

    @Test(arguments: [UInt64(0), 1, 0xF, 0x10, 0xABC, 0xFFFF_FFFF, UInt64.max, 1 << 63])
    func hexIsWhatSwiftPrints(_ value: UInt64) {
        let out = ByteWriter()
        Digits.appendLowercaseHex(value, to: out)
        #expect(String(decoding: out.finish(), as: UTF8.self) == String(value, radix: 16))
    }
}
