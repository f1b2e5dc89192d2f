import Testing

@testable import HTTP1

private func head(_ text: String) throws -> RequestHead {
    try RequestHeadParser.parse(text.crlf, limits: HTTPLimits())
}

private func decode(_ text: String, upgrade: Bool) -> Result<ResponseHead, HTTPParseError> {
    var decoder = ResponseDecoder(limits: HTTPLimits(maxBodyBytes: 0))
    decoder.expectResponse(toHead: false, upgrade: upgrade)
    let bytes = text.crlf
    return bytes.withUnsafeBytes { raw in
        Result { () throws(HTTPParseError) -> ResponseHead in
            guard case (.head(let head), _) = try decoder.decode(raw) else { throw HTTPParseError(.truncatedResponse) }
            return head
        }
    }
}

/// Which requests ask for WebSocket, which answers switch to it, and what the connection machine allows.
@Suite struct WebSocketUpgradeTests {
    static let upgrade = "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"

    @Test(
        arguments: [
            ("GET / HTTP/1.1\nHost: a\n\(upgrade)\n", true),
            ("GET / HTTP/1.1\nHost: a\nUpgrade: WebSocket\nConnection: keep-alive, upgrade\n\n", true),
            ("GET / HTTP/1.1\nHost: a\nUpgrade: h2c, websocket\nConnection: Upgrade\n\n", true),
            ("GET / HTTP/1.1\nHost: a\nUpgrade: h2c\nConnection: Upgrade\n\n", false),
            ("GET / HTTP/1.1\nHost: a\nUpgrade: websocket\n\n", false),
            ("GET / HTTP/1.1\nHost: a\nConnection: Upgrade\n\n", false),
            ("GET / HTTP/1.0\nHost: a\n\(upgrade)\n", false),
            ("POST / HTTP/1.1\nHost: a\n\(upgrade)\n", false),
            ("get / HTTP/1.1\nHost: a\n\(upgrade)\n", false),
            ("GET / HTTP/1.1\nHost: a\n\(upgrade)Content-Length: 0\n\n", true),
            ("GET / HTTP/1.1\nHost: a\n\(upgrade)Content-Length: 2\n\n", false),
            ("GET / HTTP/1.1\nHost: a\n\(upgrade)Transfer-Encoding: chunked\n\n", false),
        ])
    func onlyABodilessGETInHTTP11AsksForWebSocket(request: String, asks: Bool) throws {
        #expect(HopByHop.asksForWebSocket(try head(request)) == asks)
    }

    @Test func theUpgradeFieldsAreHopByHopEitherWay() throws {
        let request = try head("GET / HTTP/1.1\nHost: a\n\(Self.upgrade)\n")
        let dropped = request.bytes.withUnsafeBytes { raw in
            let rules = HopByHop(raw, fields: request.fields)
            return request.fields.filter { rules.disposition(of: $0.name, in: raw, going: .toUpstream) == .drop }
                .map { request.string($0.name) }
        }
        // The proxy writes its own Host, and its own Upgrade and Connection when the route lets the upgrade through;
        // Sec-WebSocket-Key goes up as it came.
        #expect(dropped == ["Host", "Upgrade", "Connection"])
    }

    @Test func a101IsAnAnswerOnlyToAnUpgradeAndOnlyToWebSocket() throws {
        let switched = "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n\n"
        let head = try decode(switched, upgrade: true).get()
        #expect(head.switchesProtocols && !head.isInformational && !head.keepAlive)
        #expect(head.framing == .none)
        #expect(throws: HTTPParseError.self) { try decode(switched, upgrade: false).get() }
        #expect(throws: HTTPParseError.self) {
            try decode("HTTP/1.1 101 Switching Protocols\nUpgrade: h2c\nConnection: Upgrade\n\n", upgrade: true).get()
        }
        #expect(throws: HTTPParseError.self) {
            try decode("HTTP/1.0 101 Switching Protocols\nUpgrade: websocket\n\n", upgrade: true).get()
        }
        #expect(throws: HTTPParseError.self) { try decode("HTTP/1.1 101 OK\n\n", upgrade: true).get() }
        // Declined: an ordinary answer.
        #expect(try decode("HTTP/1.1 403 Forbidden\nContent-Length: 0\n\n", upgrade: true).get().status == 403)
    }

    @Test func bytesAfterA101AreNeverDecoded() throws {
        var decoder = ResponseDecoder(limits: HTTPLimits(maxBodyBytes: 0))
        decoder.expectResponse(toHead: false, upgrade: true)
        let bytes = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\u{81}\u{05}hello".utf8)
        let (first, consumed) = try bytes.withUnsafeBytes { raw in
            try Result { () throws(HTTPParseError) in try decoder.decode(raw) }.get()
        }
        guard case .head = first else {
            Issue.record("no head")
            return
        }
        let rest = Array(bytes[consumed...])
        let (second, none) = try rest.withUnsafeBytes { raw in
            try Result { () throws(HTTPParseError) in try decoder.decode(raw) }.get()
        }
        guard case .needMore = second else {
            Issue.record("decoded past the 101")
            return
        }
        #expect(none == 0)
    }

    @Test func theConnectionSwitchesOnlyWhenTheRequestIsReadAndNoAnswerStarted() {
        var machine = ServerConnectionStateMachine(limits: HTTPLimits())
        let step1 = machine.switchingProtocols()
        #expect(!step1, "no request yet")
        let request = Array("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nFRAME".utf8)
        var offset = 0
        var actions: [String] = []
        while true {
            let (action, consumed) = request.withUnsafeBytes {
                machine.decode(UnsafeRawBufferPointer(rebasing: $0[offset...]))
            }
            offset += consumed
            if case .head = action { actions.append("head") }
            if case .bodyEnd = action { actions.append("end") }
            if case .awaitResponse = action { break }
        }
        #expect(actions == ["head", "end"])
        #expect(request.count - offset == 5, "the early frame waits, undecoded")
        let step2 = machine.switchingProtocols()
        #expect(step2)
        #expect(machine.isTunnel && !machine.isIdle && !machine.isReadingHead)
        let (action, consumed) = request.withUnsafeBytes {
            machine.decode(UnsafeRawBufferPointer(rebasing: $0[offset...]))
        }
        guard case .readMore = action else {
            Issue.record("a tunnel's bytes were decoded")
            return
        }
        #expect(consumed == 0)
        let step3 = machine.switchingProtocols()
        #expect(!step3, "once")

        var answered = ServerConnectionStateMachine(limits: HTTPLimits())
        _ = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8).withUnsafeBytes { answered.decode($0) }
        _ = answered.responseWillStart()
        let step4 = answered.switchingProtocols()
        #expect(!step4, "an answer already started")
    }
}
