import Time

/// What the gateway decides about an open tunnel, and hears of its life. Called on the tunnel's loop.
package protocol TunnelPolicy: AnyObject {
    /// Asked at every check (each sweep of the loop, at least twice a second): why the tunnel must close now (its
    /// token expired or was revoked), or nil. Cheap: one clock reading and, while nothing is revoked, one atomic load.
    func verdict() -> TunnelCloseReason?
    func tunnelOpened()
    func tunnelClosed(_ reason: TunnelCloseReason)
}

/// A client connection and an upstream connection joined after a `101`: bytes cross both ways as they come, and
/// no frame is parsed. Each side stops reading while the other's output is pending, so authgate holds at most one
/// read (64 KiB) per direction beyond the kernel's buffers. Whatever ends one side ends both: nothing stays half
/// open. Loop-confined; the two connections carry out its I/O, `TunnelLifecycle` decides.
package final class Tunnel {
    private let client: ClientConnection
    private let upstream: UpstreamConnection
    private let policy: any TunnelPolicy
    private var lifecycle: TunnelLifecycle

    /// Joins the two; `ClientConnection.switchProtocols` and `UpstreamConnection.joinTunnel` hand each its end.
    package init(client: ClientConnection, upstream: UpstreamConnection, policy: any TunnelPolicy) {
        self.client = client
        self.upstream = upstream
        self.policy = policy
        lifecycle = TunnelLifecycle(
            idleTimeout: client.context.timeouts.idle, now: SystemClock.coarseMonotonicNanoseconds())
    }

    /// Both ends are joined: the tunnel counts as open, and the bytes the client sent after its request head go up.
    package func start() {
        client.loop.assertOnLoop()
        policy.tunnelOpened()
        if let early = client.takeEarlyTunnelBytes() { early.withUnsafeBytes { clientBytes($0) } }
        // A client that half-closed while the upgrade was on its way will tell no end again: it ended already.
        if client.channel.hasInputEnded { clientEnded() }
    }

    // MARK: Bytes

    func clientBytes(_ bytes: UnsafeRawBufferPointer) {
        guard !lifecycle.isClosed, !bytes.isEmpty else { return }
        upstream.send(bytes)
        carryOut(lifecycle.bytesMoved(from: .client, pending: upstream.hasPendingOutput))
    }

    func upstreamBytes(_ bytes: UnsafeRawBufferPointer) {
        guard !lifecycle.isClosed, !bytes.isEmpty else { return }
        client.sendTunnelBytes(bytes)
        carryOut(lifecycle.bytesMoved(from: .upstream, pending: client.hasPendingOutput))
    }

    func clientDrained() { carryOut(lifecycle.drained(towards: .client)) }
    func upstreamDrained() { carryOut(lifecycle.drained(towards: .upstream)) }

    // MARK: Ends

    func clientEnded() {
        carryOut(lifecycle.peerEnded(.client, pendingTowardsOther: upstream.hasPendingOutput))
    }

    func upstreamEnded() {
        carryOut(lifecycle.peerEnded(.upstream, pendingTowardsOther: client.hasPendingOutput))
    }

    func failed() { carryOut(lifecycle.failed()) }

    /// The client connection's periodic deadline.
    func check() {
        carryOut(lifecycle.check(now: SystemClock.coarseMonotonicNanoseconds(), verdict: policy.verdict()))
    }

    func shutdown() { carryOut(lifecycle.shutdown()) }

    private func carryOut(_ action: TunnelLifecycle.Action) {
        switch action {
        case .none:
            break
        case .resumeReading(.client):
            client.pauseReading(false)
        case .resumeReading(.upstream):
            upstream.setReading(true)
        case .stopReading(.client):
            client.pauseReading(true)
        case .stopReading(.upstream):
            upstream.setReading(false)
        case .close(let reason):
            upstream.close()
            client.endTunnel()
            policy.tunnelClosed(reason)
        }
    }
}
