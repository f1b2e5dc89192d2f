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
        #expect(lifecycle.exchangeEnded(keepAlive: true) == .continueReading)
        #expect(lifecycle.state == .serving(exchange: nil))
        #expect(lifecycle.outputFlushed() == .resume)
    }

    @Test func aClosingAnswerIsWrittenThenLingers() {
        var lifecycle = ClientLifecycle()
        lifecycle.exchangeStarted()
        #expect(lifecycle.exchangeEnded(keepAlive: false) == .closeAfterFlush)
        #expect(lifecycle.state == .closingAfterFlush)
        #expect(lifecycle.wantsToRead(bufferedBytes: 0, maxBuffered: 10, hasPendingOutput: true), "reads to see the end")
        #expect(lifecycle.outputFlushed() == .beginLinger)
        #expect(lifecycle.state == .lingering)
        #expect(lifecycle.peerEnded(hasPendingOutput: false) == .close)
        #expect(lifecycle.outputFlushed() == .none)
    }

    @Test func aRefusedRequestClosesAfterItsAnswer() {
        var lifecycle = ClientLifecycle()
        lifecycle.refused()
        #expect(lifecycle.state == .closingAfterFlush)
        #expect(lifecycle.peerEnded(hasPendingOutput: true) == .askHTTP, "the answer is still being written")
        #expect(lifecycle.peerEnded(hasPendingOutput: false) == .close)
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
        #expect(!lifecycle.drain(idle: false, hasPendingOutput: false), "an answer is owed")
        #expect(lifecycle.draining)
        var idle = ClientLifecycle()
        #expect(idle.drain(idle: true, hasPendingOutput: false))
        var writing = ClientLifecycle()
        #expect(!writing.drain(idle: true, hasPendingOutput: true))
    }

    @Test func aClosedConnectionStartsNothing() {
        var lifecycle = ClientLifecycle()
        lifecycle.closed()
        lifecycle.exchangeStarted()
        #expect(lifecycle.state == .closed)
        #expect(!lifecycle.wantsToRead(bufferedBytes: 0, maxBuffered: 10, hasPendingOutput: false))
        #expect(lifecycle.exchangeEnded(keepAlive: true) == .closeAfterFlush)
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
