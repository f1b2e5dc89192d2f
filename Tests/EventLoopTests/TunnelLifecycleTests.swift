import Testing

@testable import EventLoop

/// The tunnel's life and the connections' tunneling states, driven as `Tunnel` and the connections drive them.
@Suite struct TunnelLifecycleTests {
    let second: UInt64 = 1_000_000_000

    @Test func anEndWithNothingPendingClosesBothAtOnce() {
        var tunnel = TunnelLifecycle(idleTimeout: second, now: 0)
        let step1 = tunnel.peerEnded(.client, pendingTowardsOther: false)
        #expect(step1 == .close(.clientClosed))
        #expect(tunnel.isClosed)
        let step2 = tunnel.peerEnded(.upstream, pendingTowardsOther: false)
        #expect(step2 == .none, "closed once")
        let step3 = tunnel.failed()
        #expect(step3 == .none)
    }

    @Test func anEndWithBytesPendingFlushesThemFirst() {
        var tunnel = TunnelLifecycle(idleTimeout: second, now: 0)
        let step4 = tunnel.peerEnded(.upstream, pendingTowardsOther: true)
        #expect(step4 == .stopReading(.client))
        #expect(tunnel.state == .flushing(ended: .upstream))
        let step5 = tunnel.drained(towards: .upstream)
        #expect(step5 == .none, "the upstream's end is not what is awaited")
        let step6 = tunnel.drained(towards: .client)
        #expect(step6 == .close(.upstreamClosed))
    }

    @Test func theOtherEndDuringAFlushClosesToo() {
        var tunnel = TunnelLifecycle(idleTimeout: second, now: 0)
        _ = tunnel.peerEnded(.client, pendingTowardsOther: true)
        let step7 = tunnel.peerEnded(.upstream, pendingTowardsOther: false)
        #expect(step7 == .close(.clientClosed))
    }

    @Test func aDrainedSideLetsTheOtherBeReadAgain() {
        var tunnel = TunnelLifecycle(idleTimeout: second, now: 0)
        let step8 = tunnel.drained(towards: .client)
        #expect(step8 == .resumeReading(.upstream))
        let step9 = tunnel.drained(towards: .upstream)
        #expect(step9 == .resumeReading(.client))
    }

    @Test func bytesTheOtherSideHasNotTakenStopTheirReader() {
        var tunnel = TunnelLifecycle(idleTimeout: second, now: 0)
        #expect(tunnel.bytesMoved(from: .client, pending: false) == .none)
        #expect(tunnel.bytesMoved(from: .client, pending: true) == .stopReading(.client))
        #expect(tunnel.bytesMoved(from: .upstream, pending: true) == .stopReading(.upstream))
        #expect(tunnel.drained(towards: .upstream) == .resumeReading(.client))
        _ = tunnel.failed()
        #expect(tunnel.bytesMoved(from: .client, pending: true) == .none, "a closed tunnel reads nothing")
    }

    @Test func theTokensVerdictClosesAtTheNextCheck() {
        var tunnel = TunnelLifecycle(idleTimeout: 0, now: 0)
        let step10 = tunnel.check(now: 1, verdict: nil)
        #expect(step10 == .none)
        let step11 = tunnel.check(now: 2, verdict: .revoked)
        #expect(step11 == .close(.revoked))
        let step12 = tunnel.check(now: 3, verdict: .expired)
        #expect(step12 == .none, "closed once")
    }

    @Test func idleIsCountedFromTheLastCheckThatSawBytes() {
        var tunnel = TunnelLifecycle(idleTimeout: second, now: 0)
        _ = tunnel.bytesMoved(from: .client, pending: false)
        let step13 = tunnel.check(now: second / 2, verdict: nil)
        #expect(step13 == .none)
        let step14 = tunnel.check(now: second, verdict: nil)
        #expect(step14 == .none, "bytes moved half a second ago")
        let step15 = tunnel.check(now: second / 2 + second, verdict: nil)
        #expect(step15 == .close(.idle))
    }

    @Test func noIdleTimeoutMeansNoIdleClose() {
        var tunnel = TunnelLifecycle(idleTimeout: 0, now: 0)
        let step16 = tunnel.check(now: 1000 * second, verdict: nil)
        #expect(step16 == .none)
    }

    @Test func shutdownClosesWithItsReason() {
        var tunnel = TunnelLifecycle(idleTimeout: 0, now: 0)
        let step17 = tunnel.shutdown()
        #expect(step17 == .close(.shutdown))
    }

    @Test func theReasonsAreTheMetricsLabels() {
        #expect(
            TunnelCloseReason.allCases.map(\.rawValue) == [
                "expired", "revoked", "idle", "shutdown", "client_closed", "upstream_closed", "error",
            ])
    }

    @Test func noSwitchOnceTheServerIsStoppingNorOnceAnAnswerStarted() {
        var lifecycle = ClientLifecycle()
        #expect(!lifecycle.maySwitchProtocols, "no exchange")
        lifecycle.exchangeStarted()
        #expect(lifecycle.maySwitchProtocols)
        var streaming = lifecycle
        streaming.responseStarted(chunked: false)
        #expect(!streaming.maySwitchProtocols, "an answer already started")
        _ = lifecycle.drain(idle: false, hasPendingOutput: false)
        #expect(!lifecycle.maySwitchProtocols, "a tunnel opened while draining would be cut at the grace's end")
    }

    @Test func aTunnelingClientConnectionHandsEveryEventToItsTunnel() {
        var lifecycle = ClientLifecycle()
        lifecycle.exchangeStarted()
        lifecycle.becameTunnel()
        #expect(lifecycle.state == .tunneling(readingPaused: false))
        #expect(lifecycle.exchange == nil, "no HTTP exchange is open any more")
        #expect(lifecycle.wantsToRead(bufferedBytes: 0, maxBuffered: 0, hasPendingOutput: true))
        lifecycle.handlerPausedReading(true)
        #expect(!lifecycle.wantsToRead(bufferedBytes: 0, maxBuffered: 10, hasPendingOutput: false))
        let step18 = lifecycle.outputFlushed()
        #expect(step18 == .tunnelDrained)
        let step19 = lifecycle.peerEnded(hasPendingOutput: false)
        #expect(step19 == .tunnelEnded)
        #expect(lifecycle.deadlinePassed(hasPendingOutput: false) == .checkTunnel)
        let step20 = lifecycle.drain(idle: true, hasPendingOutput: false)
        #expect(!step20, "a tunnel is never idle HTTP")
    }

    @Test func onlyAServingConnectionBecomesATunnel() {
        var lifecycle = ClientLifecycle()
        lifecycle.refused()
        lifecycle.becameTunnel()
        #expect(lifecycle.state == .closingAfterFlush)
    }

    @Test func anUpstreamConnectionInATunnelIsNeverPooled() {
        var lifecycle = UpstreamLifecycle()
        lifecycle.connected()
        lifecycle.requestStarted()
        lifecycle.switchedProtocols()
        #expect(lifecycle.state == .tunneling)
        #expect(!lifecycle.isReusable && !lifecycle.wasReused && lifecycle.isConnected)
        lifecycle.answerEnded(bytesFollowed: false)
        #expect(lifecycle.state == .tunneling, "nothing brings it back to HTTP")
    }
}
