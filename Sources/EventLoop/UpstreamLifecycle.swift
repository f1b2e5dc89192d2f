/// The life of one upstream connection, without I/O: connecting, idle between exchanges, carrying one,
/// spent, carrying a tunnel after a `101`, closed. `UpstreamConnection` feeds it events; the pool reads whether
/// it may keep the connection.
struct UpstreamLifecycle: Equatable {
    enum State: Equatable {
        /// TCP connect and, for https:// upstreams, the TLS handshake.
        case connecting
        /// Connected, no request in flight; `answered` requests were served on it before.
        case idle(answered: Int)
        /// A request went (or is going) out; `keepAlive` is what the answer's head said, once it came.
        case exchanging(answered: Int, keepAlive: Bool)
        /// The answer ended, but the connection cannot carry another request.
        case spent
        /// The answer was a `101`: the bytes go to and from a tunnel, never again through the response decoder.
        case tunneling
        case closed
    }

    private(set) var state = State.connecting

    mutating func connected() {
        guard state == .connecting else { return }
        state = .idle(answered: 0)
    }

    /// A pooled connection that had served answers before: a failure before any byte of the next answer may be
    /// the upstream closing it while it sat idle, which makes one retry safe.
    var wasReused: Bool {
        switch state {
        case .idle(let answered), .exchanging(let answered, _): return answered > 0
        case .connecting, .spent, .tunneling, .closed: return false
        }
    }

    mutating func requestStarted() {
        guard case .idle(let answered) = state else { return }
        state = .exchanging(answered: answered, keepAlive: false)
    }

    mutating func answerHead(keepAlive: Bool) {
        guard case .exchanging(let answered, _) = state else { return }
        state = .exchanging(answered: answered, keepAlive: keepAlive)
    }

    /// The answer ended; bytes after it were never asked for, so a connection that sent some cannot be trusted.
    mutating func answerEnded(bytesFollowed: Bool) {
        guard case .exchanging(let answered, let keepAlive) = state else { return }
        state = keepAlive && !bytesFollowed ? .idle(answered: answered + 1) : .spent
    }

    /// A `101` switched the connection to a tunnel; nothing brings it back to HTTP or to a pool.
    mutating func switchedProtocols() {
        guard case .exchanging = state else { return }
        state = .tunneling
    }

    /// Whether the pool may keep it for another request.
    var isReusable: Bool {
        if case .idle(let answered) = state { return answered > 0 }
        return false
    }

    var isConnected: Bool {
        switch state {
        case .idle, .exchanging, .spent, .tunneling: return true
        case .connecting, .closed: return false
        }
    }

    mutating func closed() {
        state = .closed
    }
}
