import Testing

@testable import EventLoop

/// The two connection lifecycles, driven as their connections drive them, without sockets.
@Suite struct ClientLifecycleTests {
    @Test func aKeptAliveExchangeReturnsToServingAndReadsOn() {
        var lifecycle = ClientLifecycle()
        lifecycle.exchangeStarted()
        #expect(lifecycle.exchange == ClientLifecycle.Exchange())
        lifecycle.responseStarted(chunked: true)
        #expect(lifecycle.exchange?.response == .streaming(chunked: true))
        let result1 = lifecycle.exchangeEnded(keepAlive: true)
        #expect(result1 == .continueReading)
        #expect(lifecycle.state == .serving(exchange: nil))
        let result2 = lifecycle.outputFlushed()
        #expect(result2 == .resume)
    }

    @Test func aClosingAnswerIsWrittenThenLingers() {
        var lifecycle = ClientLifecycle()
        lifecycle.exchangeStarted()
        let result3 = lifecycle.exchangeEnded(keepAlive: false)
        #expect(result3 == .closeAfterFlush)
        #expect(lifecycle.state == .closingAfterFlush)
        #expect(
            lifecycle.wantsToRead(bufferedBytes: 0, maxBuffered: 10, hasPendingOutput: true), "reads to see the end")
        let result4 = lifecycle.outputFlushed()
        #expect(result4 == .beginLinger)
        #expect(lifecycle.state == .lingering)
        let result5 = lifecycle.peerEnded(hasPendingOutput: false)
        #expect(result5 == .close)
        let result6 = lifecycle.outputFlushed()
        #expect(result6 == .none)
    }

    @Test func aRefusedRequestClosesAfterItsAnswer() {
        var lifecycle = ClientLifecycle()
        lifecycle.refused()
        #expect(lifecycle.state == .closingAfterFlush)
        let result7 = lifecycle.peerEnded(hasPendingOutput: true)
        #expect(result7 == .askHTTP, "the answer is still being written")
        let result8 = lifecycle.peerEnded(hasPendingOutput: false)
        #expect(result8 == .close)
    }

    @Test(arguments: [
        (paused: false, buffered: 0, pending: false, wants: true),
        (paused: true, buffered: 0, pending: false, wants: false),
        (paused: false, buffered: 11, pending: false, wants: false),
        (paused: false, buffered: 0, pending: true, wants: false),
    ])
    func readingFollowsBackpressure(paused: Bool, buffered: Int, pending: Bool, wants: Bool) {
        var lifecycle = ClientLifecycle()
        lifecycle.exchangeStarted()
        lifecycle.handlerPausedReading(paused)
        #expect(lifecycle.wantsToRead(bufferedBytes: buffered, maxBuffered: 10, hasPendingOutput: pending) == wants)
    }

    @Test func aDeadlineAsksHTTPOnlyWhileServingWithNothingQueued() {
        var lifecycle = ClientLifecycle()
        #expect(lifecycle.deadlinePassed(hasPendingOutput: false) == .headTimedOut)
        #expect(lifecycle.deadlinePassed(hasPendingOutput: true) == .close, "a client that does not read")
        lifecycle.refused()
        #expect(lifecycle.deadlinePassed(hasPendingOutput: false) == .close)
    }

    @Test func drainClosesOnlyAnIdleConnection() {
        var lifecycle = ClientLifecycle()
        lifecycle.exchangeStarted()
        let result9 = lifecycle.drain(idle: false, hasPendingOutput: false)
        #expect(!result9, "an answer is owed")
        #expect(lifecycle.draining)
        var idle = ClientLifecycle()
        let result10 = idle.drain(idle: true, hasPendingOutput: false)
        #expect(result10)
        var writing = ClientLifecycle()
        let result11 = writing.drain(idle: true, hasPendingOutput: true)
        #expect(!result11)
    }

    @Test func aClosedConnectionStartsNothing() {
        var lifecycle = ClientLifecycle()
        lifecycle.closed()
        lifecycle.exchangeStarted()
        #expect(lifecycle.state == .closed)
        #expect(!lifecycle.wantsToRead(bufferedBytes: 0, maxBuffered: 10, hasPendingOutput: false))
        let result12 = lifecycle.exchangeEnded(keepAlive: true)
        #expect(result12 == .closeAfterFlush)
        #expect(lifecycle.state == .closed)
    }
}

@Suite struct UpstreamLifecycleTests {
    @Test func aKeptAliveAnswerMakesTheConnectionReusable() {
        var lifecycle = UpstreamLifecycle()
        #expect(!lifecycle.isConnected)
        lifecycle.connected()
        #expect(lifecycle.state == .idle(answered: 0))
        #expect(!lifecycle.isReusable, "nothing served yet: it is not a pooled connection")
        lifecycle.requestStarted()
        #expect(!lifecycle.wasReused)
        lifecycle.answerHead(keepAlive: true)
        lifecycle.answerEnded(bytesFollowed: false)
        #expect(lifecycle.state == .idle(answered: 1))
        #expect(lifecycle.isReusable)
        lifecycle.requestStarted()
        #expect(lifecycle.wasReused, "a failure now may be a stale keep-alive")
    }

    @Test(arguments: [(keepAlive: false, bytesFollowed: false), (keepAlive: true, bytesFollowed: true)])
    func anAnswerThatEndsTheConnectionSpendsIt(keepAlive: Bool, bytesFollowed: Bool) {
        var lifecycle = UpstreamLifecycle()
        lifecycle.connected()
        lifecycle.requestStarted()
        lifecycle.answerHead(keepAlive: keepAlive)
        lifecycle.answerEnded(bytesFollowed: bytesFollowed)
        #expect(lifecycle.state == .spent)
        #expect(!lifecycle.isReusable)
    }

    @Test func anAnswerWithoutItsHeadIsNotKeptAlive() {
        var lifecycle = UpstreamLifecycle()
        lifecycle.connected()
        lifecycle.requestStarted()
        lifecycle.answerEnded(bytesFollowed: false)
        #expect(lifecycle.state == .spent)
    }

    @Test func closedIsFinal() {
        var lifecycle = UpstreamLifecycle()
        lifecycle.connected()
        lifecycle.closed()
        lifecycle.requestStarted()
        lifecycle.connected()
        #expect(lifecycle.state == .closed)
        #expect(!lifecycle.isReusable && !lifecycle.wasReused)
    }
}
