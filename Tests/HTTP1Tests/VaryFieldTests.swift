import Testing

@testable import HTTP1

/// `HeadWriter.varyField`: an upstream answer's Vary fields and one more name, as one field.
@Suite struct VaryFieldTests {
    private func merged(_ fields: [String]) throws -> String {
        let answer = "HTTP/1.1 200 OK\r\n" + fields.map { $0 + "\r\n" }.joined() + "Content-Length: 0\r\n\r\n"
        let head = try #require(decodeResponses(Array(answer.utf8)).heads.first)
        var writer = HeadWriter()
        head.bytes.withUnsafeBytes { writer.varyField(merging: $0, fields: head.fields, adding: "Origin") }
        return String(decoding: writer.finish(), as: UTF8.self)
    }

    @Test(arguments: [
        ([], "Vary: Origin\r\n"),
        (["Vary: Accept-Encoding"], "Vary: Accept-Encoding, Origin\r\n"),
        (["vary:Accept-Encoding ,  Accept-Language"], "Vary: Accept-Encoding, Accept-Language, Origin\r\n"),
        (["Vary: Accept-Encoding", "X-Other: 1", "VARY: Cookie"], "Vary: Accept-Encoding, Cookie, Origin\r\n"),
        (["Vary: origin"], "Vary: origin\r\n"),
        (["Vary: Accept, ORIGIN"], "Vary: Accept, ORIGIN\r\n"),
        (["Vary: *"], "Vary: *\r\n"),
        (["Vary: Accept, *"], "Vary: Accept, *\r\n"),
        (["Vary: , ,"], "Vary: Origin\r\n"),
        (["Vary:"], "Vary: Origin\r\n"),
        (["Vary: Origins"], "Vary: Origins, Origin\r\n"),
        (["X-Vary: Cookie"], "Vary: Origin\r\n"),
    ])
    func upstreamVaryAndOriginBecomeOneField(_ fields: [String], _ expected: String) throws {
        #expect(try merged(fields) == expected)
    }
}
