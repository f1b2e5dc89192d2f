import Encoding
import Testing

@Suite struct DigitsTests {
    @Test(arguments: [0, 7, 9, 10, 99, 100, 101, 65_535, 1_000_000, Int.max, -1, -42, Int.min + 1])
    func decimalIsWhatSwiftPrints(_ value: Int) {
        var out: [UInt8] = Array("x=".utf8)
        Digits.appendDecimal(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x=\(value)")
    }

    @Test func theLargestUnsignedValue() {
        var out: [UInt8] = []
        Digits.appendDecimal(UInt64.max, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "\(UInt64.max)")
    }

    @Test(arguments: [(UInt64(0), 3, "000"), (42, 3, "042"), (5, 1, "5"), (123, 2, "123"), (7, 0, "7")])
    func widthPadsWithLeadingZeros(_ value: UInt64, _ width: Int, _ expected: String) {
        var out: [UInt8] = []
        Digits.appendDecimal(value, width: width, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == expected)
    }

    @Test(arguments: [UInt64(0), 1, 0xF, 0x10, 0xABC, 0xFFFF_FFFF, UInt64.max, 1 << 63])
    func hexIsWhatSwiftPrints(_ value: UInt64) {
        var out: [UInt8] = []
        Digits.appendLowercaseHex(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == String(value, radix: 16))
    }
}
