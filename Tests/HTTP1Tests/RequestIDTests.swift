import HTTP1
import Testing

@Suite struct RequestIDTests {
    @Test func madeIDsAreVersion4UUIDsAndDistinct() {
        var seen = Set<String>()
        for _ in 0..<5000 {  // more than one 4 KiB refill of the per-thread randomness
            let id = RequestID.makeUUID()
            let bytes = Array(id.utf8)
            #expect(bytes.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { bytes[$0] == UInt8(ascii: "-") })
            #expect(bytes[14] == UInt8(ascii: "4"))
            #expect("89ab".utf8.contains(bytes[19]))
            #expect(RequestID.isAcceptable(bytes))
            #expect(bytes.allSatisfy { "0123456789abcdef-".utf8.contains($0) })
            seen.insert(id)
        }
        #expect(seen.count == 5000)
    }
}
