import Testing

@testable import HTTP1

/// Drives the connection state machine the way the connection does, without sockets.
private struct Harness {
    var machine = ServerConnectionStateMachine(limits: HTTPLimits())
    var buffer: [UInt8] = []
    var log: [String] = []

    /// Receives bytes and runs the machine until it waits; answers nothing by itself.
    mutating func receive(_ text: String) -> [String] {
        buffer += text.crlf
        return run()
    }

    mutating func run() -> [String] {
        var actions: [String] = []
        loop: while true {
            let (action, consumed) = buffer.withUnsafeBytes { machine.decode($0) }
            let slice = buffer
            buffer.removeFirst(consumed)
            switch action {
            case .readMore:
                actions.append("readMore")
                break loop
            case .head(let head): actions.append("head \(head.target)")
            case .body(let range): actions.append("body \(String(decoding: slice[range], as: UTF8.self))")
            case .bodyEnd: actions.append("end")
            case .awaitResponse:
                actions.append("await")
                break loop
            case .respondWithErrorAndClose(let error):
                actions.append("error \(error.status.code)")
                break loop
            case .close:
                actions.append("close")
                break loop
            }
        }
        return actions
    }

    mutating func respond(keepAlive: Bool = true) -> ServerConnectionStateMachine.AfterResponse {
        _ = machine.responseWillStart(keepAlive: keepAlive)
        return machine.responseEnded()
    }
}

@Suite struct ServerConnectionStateMachineTests {
    @Test func pipelinedRequestsAreAnsweredInOrder() {
        var harness = Harness()
        let first = harness.receive("GET /1 HTTP/1.1\nHost: a\n\nGET /2 HTTP/1.1\nHost: a\n\n")
        #expect(first == ["head /1", "end", "await"])
        #expect(harness.respond() == .continueReading)
        #expect(harness.run() == ["head /2", "end", "await"])
        #expect(harness.respond() == .continueReading)
        #expect(harness.run() == ["readMore"])
        #expect(harness.machine.isIdle)
    }

    @Test func bodyIsDeliveredThenTheNextRequest() {
        var harness = Harness()
        #expect(
            harness.receive("POST /1 HTTP/1.1\nHost: a\nContent-Length: 5\n\nhel") == [
                "head /1", "body hel", "readMore",
            ])
        #expect(harness.receive("lo") == ["body lo", "end", "await"])
        #expect(harness.respond() == .continueReading)
    }

    @Test func earlyAnswerDiscardsTheRestOfTheBody() {
        var harness = Harness()
        #expect(
            harness.receive("POST /1 HTTP/1.1\nHost: a\nContent-Length: 10\n\nabc") == [
                "head /1", "body abc", "readMore",
            ])
        #expect(harness.respond() == .continueReading)
        #expect(harness.receive("defghijGET /2 HTTP/1.1\nHost: a\n\n") == ["head /2", "end", "await"])
    }

    @Test func connectionCloseEndsTheConnectionAfterTheAnswer() {
        var harness = Harness()
        _ = harness.receive("GET /1 HTTP/1.1\nHost: a\nConnection: close\n\nGET /2 HTTP/1.1\nHost: a\n\n")
        #expect(harness.respond() == .close)
        #expect(harness.machine.isClosed)
    }

    @Test func handlerCanCloseAKeepAliveConnection() {
        var harness = Harness()
        _ = harness.receive("GET /1 HTTP/1.1\nHost: a\n\n")
        #expect(harness.respond(keepAlive: false) == .close)
    }

    @Test func continueIsSentOnceWhenTheHandlerReadsTheBody() {
        var harness = Harness()
        #expect(
            harness.receive("PUT /1 HTTP/1.1\nHost: a\nExpect: 100-continue\nContent-Length: 2\n\n") == [
                "head /1", "readMore",
            ])
        let first = harness.machine.handlerWillReadBody()
        let second = harness.machine.handlerWillReadBody()
        #expect(first && !second)
        #expect(harness.receive("ok") == ["body ok", "end", "await"])
        #expect(harness.respond() == .continueReading)
    }

    @Test func answeringWithoutContinueClosesTheConnection() {
        var harness = Harness()
        _ = harness.receive("PUT /1 HTTP/1.1\nHost: a\nExpect: 100-continue\nContent-Length: 2\n\n")
        let keepsOpen = harness.machine.responseWillStart()
        let after = harness.machine.responseEnded()
        #expect(!keepsOpen && after == .close)
    }

    @Test func malformedRequestIsAnsweredAndClosed() {
        var harness = Harness()
        #expect(harness.receive("GET / HTTP/1.1\nHost: a\nContent-Length: 1\nContent-Length: 2\n\n") == ["error 400"])
        #expect(harness.machine.isClosed)
    }

    @Test func malformedChunkAfterTheAnswerStartedJustCloses() {
        var harness = Harness()
        _ = harness.receive("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n")
        _ = harness.machine.responseWillStart()
        #expect(harness.receive("zz\n") == ["close"])
    }

    @Test func headTimeoutGives408OnlyForAPartialHead() {
        var idle = Harness()
        #expect(idle.receive("") == ["readMore"])
        if case .close = idle.machine.headTimedOut() {} else { Issue.record("an idle connection is closed silently") }

        var partial = Harness()
        #expect(partial.receive("GET / HTTP/1.1\nHo") == ["readMore"])
        #expect(!partial.machine.isIdle)
        if case .respondWithErrorAndClose(let error) = partial.machine.headTimedOut() {
            #expect(error.status == .requestTimeout)
        } else {
            Issue.record("a partial head gets 408")
        }
    }

    @Test func halfClosedClientStillGetsItsAnswer() {
        var harness = Harness()
        _ = harness.receive("GET / HTTP/1.1\nHost: a\n\n")
        if case .awaitResponse = harness.machine.peerClosed() {} else { Issue.record("the answer is still owed") }
        #expect(harness.respond() == .close)
    }
}
