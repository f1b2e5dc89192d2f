import TestSupport
import Testing

@testable import HTTP1

/// The eight-bytes-at-a-time scans against the byte-by-byte rules they stand in for, on every byte value at
/// every offset of a word and on seeded random buffers.
@Suite struct WordScanTests {
    @Test func firstIndexFindsEveryByteAtEveryOffset() {
        for target in [UInt8(10), 13, 0, 0x80, 0xFF] {
            for length in 0..<20 {
                for offset in 0..<max(length, 1) {
                    var bytes = [UInt8](repeating: target &+ 1, count: length)
                    if offset < length { bytes[offset] = target }
                    // A second occurrence after the first must not be reported instead of it.
                    if offset + 3 < length { bytes[offset + 3] = target }
                    bytes.withUnsafeBytes { raw in
                        for start in 0...length {
                            let expected = (start..<length).first { raw[$0] == target }
                            #expect(WordScan.firstIndex(of: target, in: raw, from: start) == expected)
                        }
                    }
                }
            }
        }
    }

    /// Where the byte rule says the plain run stops, unless that is in the last bytes that make no whole word
    /// (the scan leaves those to its caller): then where they start.
    private func plainRunEnd(_ raw: UnsafeRawBufferPointer, from start: Int) -> Int {
        let firstOther = (start..<raw.count).first { !(ByteClass.isFieldValue(raw[$0]) && raw[$0] != ByteClass.htab) }
        let wholeWords = start + (raw.count - start) / 8 * 8
        return min(firstOther ?? raw.count, wholeWords)
    }

    @Test func plainFieldValueAgreesWithTheByteRule() {
        for value in 0...255 {
            for offset in 0..<24 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 24)
                bytes[offset] = UInt8(value)
                bytes.withUnsafeBytes { raw in
                    #expect(
                        WordScan.endOfPlainFieldValue(raw, from: 0) == plainRunEnd(raw, from: 0),
                        "byte \(value) at \(offset)")
                }
            }
        }
    }

    @Test func randomBuffersAgree() {
        var generator = SplitMix64(state: 0x5EED)
        for _ in 0..<2000 {
            let length = Int(generator.next() % 40)
            let bytes = (0..<length).map { _ in
                // Mostly plain bytes, with the ones that matter mixed in.
                let roll = generator.next() % 10
                return roll < 7 ? UInt8(32 + generator.next() % 95) : [0, 9, 10, 13, 127, 200][Int(roll % 6)]
            }
            bytes.withUnsafeBytes { raw in
                let expected = raw.firstIndex(of: 10)
                #expect(WordScan.firstIndex(of: 10, in: raw, from: 0) == expected)
                for start in 0...length {
                    #expect(WordScan.endOfPlainFieldValue(raw, from: start) == plainRunEnd(raw, from: start))
                }
            }
        }
    }

    /// Every byte value at every position of names of 2 to 19 bytes (the short ones byte by byte, the long ones a
    /// word at a time with an overlapping last word), against the byte rule: ASCII letters match in either case,
    /// every other byte only itself.
    @Test func equalsLowercaseIsTheByteRuleOnEveryByteAtEveryPosition() {
        let literals: [StaticString] = [
            "te", "host", "x-auth-", "upgrade", "connection", "authorization", "x-forwarded-for", "proxy-connection",
            "transfer-encoding", "proxy-authorization", "content-length", "x-request-id", "100-continue",
        ]
        func byteRule(_ byte: UInt8, _ expected: UInt8) -> Bool {
            byte == expected || (expected >= 0x61 && expected <= 0x7A && byte == expected - 0x20)
        }
        for literal in literals {
            let lower = Array(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
            for position in lower.indices {
                for value in 0...255 {
                    // Inside a larger buffer, so that a word read past the range would change the answer.
                    var bytes = [UInt8](repeating: 0x41, count: 3) + lower + [0x41, 0x41, 0x41]
                    bytes[3 + position] = UInt8(value)
                    let expected = byteRule(UInt8(value), lower[position])
                    bytes.withUnsafeBytes { raw in
                        #expect(raw.equalsLowercase(3..<3 + lower.count, literal) == expected)
                    }
                }
            }
            // Upper case throughout matches; one byte shorter or longer does not.
            let upper = lower.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
            upper.withUnsafeBytes { raw in
                #expect(raw.equalsLowercase(0..<upper.count, literal))
                #expect(!raw.equalsLowercase(0..<upper.count - 1, literal))
            }
        }
    }
}
