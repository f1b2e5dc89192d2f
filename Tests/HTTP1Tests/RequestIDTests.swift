import Testing

@testable import HTTP1

@Suite struct RequestIDTests {
    private func head(_ fields: String) throws -> RequestHead {
        try RequestHeadParser.parse(Array("GET / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n".utf8), limits: HTTPLimits())
    }

    @Test func uuidCarriesVersion4AndTheVariantOverTheRandomBits() {
        #expect(RequestID.uuid(random: (0, 0)).text == "00000000-0000-4000-8000-000000000000")
        #expect(RequestID.uuid(random: (.max, .max)).text == "ffffffff-ffff-4fff-bfff-ffffffffffff")
        #expect(
            RequestID.uuid(random: (0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210)).text
                == "01234567-89ab-4def-bedc-ba9876543210")
    }

    @Test func acceptableClientIDIsKeptWithoutDrawingRandomness() throws {
        let kept = RequestID.forRequest(try head("X-Request-Id: abc.DEF_1-2\r\n")) {
            Issue.record("randomness drawn for a kept id")
            return (0, 0)
        }
        #expect(kept.text == "abc.DEF_1-2")
    }

    @Test(arguments: ["X-Request-Id: a b\r\n", "X-Request-Id: \(String(repeating: "a", count: 129))\r\n", ""])
    func otherwiseANewUUIDIsMade(field: String) throws {
        let made = RequestID.forRequest(try head(field)) { (0, 0) }
        #expect(made.text == "00000000-0000-4000-8000-000000000000")
        #expect(RequestID.isAcceptable(Array(made.text.utf8)))
    }

    @Test func anIDGivenAsTextIsTakenOnlyWhenAcceptable() {
        #expect(RequestID("id-1")?.text == "id-1")
        #expect(RequestID(String(repeating: "a", count: 128))?.count == 128)
        #expect(RequestID(String(repeating: "a", count: 129)) == nil)
        #expect(RequestID("a b") == nil)
        #expect(RequestID("") == nil)
        #expect(RequestID().count == 0)
    }
}
