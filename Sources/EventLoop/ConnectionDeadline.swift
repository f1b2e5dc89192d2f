import Time

/// A client connection's one deadline: what it guards and when it passes. It is armed once per phase instead
/// of extended by every read, and the loop's sweep compares it with the clock: no timer per connection.
struct ConnectionDeadline {
    enum Kind {
        case none
        /// A request head (or the TLS handshake) must arrive whole.
        case head
        /// A kept-alive connection between requests.
        case idle
        /// A body being sent, or an answer waiting for a client that does not read.
        case activity
        /// A half-closed connection discarding what the client still sends.
        case linger
        /// Set by the handler (an upstream that does not answer).
        case handler
        /// A tunnel's next check of its token, revocations and idleness (`tunnelCheckInterval`).
        case tunnel
    }

    /// How often an open tunnel is checked: with the loop's sweep (at most 500 ms apart), a token that expires or is
    /// revoked closes its tunnel within a second.
    static let tunnelCheckInterval: UInt64 = 250_000_000

    private let timeouts: ConnectionTimeouts
    private(set) var kind = Kind.none
    /// Absolute monotonic time in ns; 0 means none.
    private(set) var time: UInt64 = 0

    init(timeouts: ConnectionTimeouts) {
        self.timeouts = timeouts
    }

    mutating func set(_ kind: Kind) {
        self.kind = kind
        let timeout: UInt64
        switch kind {
        case .none, .handler: timeout = 0
        case .head: timeout = timeouts.head
        case .idle, .activity: timeout = timeouts.idle
        case .linger: timeout = timeouts.linger
        case .tunnel: timeout = Self.tunnelCheckInterval
        }
        time = timeout == 0 ? 0 : SystemClock.coarseMonotonicNanoseconds() &+ timeout
    }

    mutating func setHandler(after nanoseconds: UInt64) {
        kind = .handler
        time = SystemClock.coarseMonotonicNanoseconds() &+ nanoseconds
    }

    /// Arms the deadline of the phase the HTTP machine is in, unless that one is armed already.
    mutating func arm(idle: Bool, readingHead: Bool) {
        if idle {
            if kind != .idle { set(.idle) }
        } else if readingHead {
            if kind != .head { set(.head) }
        }
    }
}
