import EventLoop
import JWT
import Time

/// A WebSocket tunnel bound to the token that opened it (SPEC.md "WebSocket"): it closes once the token's
/// `exp` plus `clock_skew` passes or its sub is revoked, the same rules a request meets, asked again at every
/// check of the tunnel. A route with `auth = "none"` binds no token: only idleness and shutdown close it.
final class TunnelGuard: TunnelPolicy {
    private let token: VerifiedToken?
    /// Wall-clock seconds: the first instant the token is refused.
    private let refusedFrom: Double
    private let revocations: Revocations
    private let metrics: Metrics

    init(token: VerifiedToken?, settings: TunnelSettings, metrics: Metrics) {
        self.token = token
        refusedFrom = token.map { $0.expiresAt + settings.clockSkew } ?? .infinity
        revocations = settings.revocations
        self.metrics = metrics
    }

    func verdict() -> TunnelCloseReason? {
        guard let token else { return nil }
        let now = SystemClock.wallClockSeconds()
        if now >= refusedFrom { return .expired }
        // One atomic load while nothing is revoked (Revocations.swift).
        if revocations.isRevoked(sub: token.subject, issuedAt: token.issuedAt, now: now) { return .revoked }
        return nil
    }

    func tunnelOpened() {
        metrics.tunnelOpened()
    }

    func tunnelClosed(_ reason: TunnelCloseReason) {
        metrics.tunnelClosed(reason)
    }
}

/// What a tunnel's guard needs from the configuration and the server.
struct TunnelSettings: Sendable {
    /// `cognito.clock_skew`, in seconds: a token is accepted until `exp` plus this.
    let clockSkew: Double
    /// The server's revocations, kept across reloads.
    let revocations: Revocations
}
