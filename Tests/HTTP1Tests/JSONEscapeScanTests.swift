import Encoding
import TestSupport
import Testing

/// The eight-bytes-at-a-time test of whether a JSON string needs escaping, against the byte rule.
@Suite struct JSONEscapeScanTests {
    private func byteRule(_ bytes: [UInt8]) -> Bool {
        bytes.contains { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
    }

    @Test func everyByteAtEveryOffset() {
        for value in 0...255 {
            for length in 1...17 {
                for offset in 0..<length {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[offset] = UInt8(value)
                    let scanned = bytes.withUnsafeBytes { JSONText.anyNeedsEscape($0) }
                    #expect(scanned == byteRule(bytes), "byte \(value) at \(offset) of \(length)")
                }
            }
        }
    }

    @Test func randomBuffersAgree() {
        var generator = SplitMix64(state: 0x5CA9)
        for _ in 0..<3000 {
            let length = Int(generator.next() % 40)
            let bytes = (0..<length).map { _ in
                let roll = generator.next() % 12
                return roll < 9
                    ? UInt8(0x23 + generator.next() % 0x39) : [0, 0x1F, 0x22, 0x5C, 0x7F, 0x80, 0xFF][Int(roll % 7)]
            }
            #expect(bytes.withUnsafeBytes { JSONText.anyNeedsEscape($0) } == byteRule(bytes))
        }
    }

    @Test func quotedTextIsEscapedAsBefore() {
        let out = ByteWriter()
        JSONText.appendQuoted("a\"b\\c\nd\u{1}e\u{7F}éf", to: out)
        #expect(String(decoding: out.finish(), as: UTF8.self) == #""a\"b\\c\nd\u0001e\u007féf""#)
    }
}
