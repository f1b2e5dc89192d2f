/// Why a tunnel closed: the `reason` label of `authgate_websocket_tunnels_closed_total`.
package enum TunnelCloseReason: String, Sendable, CaseIterable {
    /// The token's `exp` plus `clock_skew` passed.
    case expired
    /// The token's sub was revoked (sign-out, `/revoke`).
    case revoked
    /// No byte crossed either way for `idle_timeout`.
    case idle
    /// The server stopped and `shutdown_grace` passed.
    case shutdown
    /// The client sent its end (FIN).
    case clientClosed = "client_closed"
    /// The upstream sent its end (FIN).
    case upstreamClosed = "upstream_closed"
    /// A socket failed (a reset, a TLS or write error), or the `101` could not be relayed.
    case error
}

/// The two ends of a tunnel.
enum TunnelSide: Equatable {
    case client
    case upstream

    var other: TunnelSide { self == .client ? .upstream : .client }
    var closeReason: TunnelCloseReason { self == .client ? .clientClosed : .upstreamClosed }
}

/// The life of one tunnel, without I/O: open, flushing what one side sent before its end, closed. `Tunnel`
/// feeds it events and carries out the actions it returns; the bytes themselves never pass through here.
struct TunnelLifecycle: Equatable {
    enum State: Equatable {
        case open
        /// `ended` sent its end; what it sent before is still being written to the other side, then both close.
        case flushing(ended: TunnelSide)
        case closed(TunnelCloseReason)
    }

    enum Action: Equatable {
        case none
        /// Read `side` again: its bytes' destination took everything queued.
        case resumeReading(TunnelSide)
        /// Stop reading `side`: its bytes wait for the other side's kernel, or the tunnel is only finishing the other
        /// direction.
        case stopReading(TunnelSide)
        /// Close both connections, now.
        case close(TunnelCloseReason)
    }

    private(set) var state = State.open
    /// 0 disables the idle close.
    private let idleTimeout: UInt64
    /// Whether a byte crossed since the last check: a clock reading per read would cost more than this flag.
    private var movedSinceCheck = false
    /// Monotonic ns of the last check that saw bytes move (or of the start).
    private var quietSince: UInt64

    init(idleTimeout: UInt64, now: UInt64) {
        self.idleTimeout = idleTimeout
        self.quietSince = now
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Bytes from `side` were handed to the other side; `pending`: its kernel did not take them all, so `side` is
    /// not read again until they are (`drained`): each direction holds at most one read.
    mutating func bytesMoved(from side: TunnelSide, pending: Bool) -> Action {
        guard !isClosed else { return .none }
        movedSinceCheck = true
        return pending ? .stopReading(side) : .none
    }

    /// `side` sent its end. `pendingTowardsOther`: whether bytes it sent still wait to be written to the other side.
    mutating func peerEnded(_ side: TunnelSide, pendingTowardsOther: Bool) -> Action {
        switch state {
        case .open where pendingTowardsOther:
            state = .flushing(ended: side)
            return .stopReading(side.other)
        case .open:
            return close(side.closeReason)
        case .flushing(let ended):
            // Both ends came: nothing is left to wait for.
            return close(ended.closeReason)
        case .closed:
            return .none
        }
    }

    /// Everything queued towards `side` went to the kernel.
    mutating func drained(towards side: TunnelSide) -> Action {
        switch state {
        case .open:
            return .resumeReading(side.other)
        case .flushing(let ended) where ended == side.other:
            return close(ended.closeReason)
        case .flushing, .closed:
            return .none
        }
    }

    /// A socket of the tunnel failed.
    mutating func failed() -> Action {
        close(.error)
    }

    /// The periodic check. `verdict` is the token's (expired, revoked) or nil; `now` is monotonic ns.
    mutating func check(now: UInt64, verdict: TunnelCloseReason?) -> Action {
        guard !isClosed else { return .none }
        if let verdict { return close(verdict) }
        if movedSinceCheck {
            movedSinceCheck = false
            quietSince = now
            return .none
        }
        if idleTimeout > 0 && now &- quietSince >= idleTimeout { return close(.idle) }
        return .none
    }

    /// The server's `shutdown_grace` passed.
    mutating func shutdown() -> Action {
        close(.shutdown)
    }

    private mutating func close(_ reason: TunnelCloseReason) -> Action {
        guard !isClosed else { return .none }
        state = .closed(reason)
        return .close(reason)
    }
}
