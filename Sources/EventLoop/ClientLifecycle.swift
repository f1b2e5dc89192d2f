/// The life of one client connection around its HTTP exchanges, without I/O: serving requests, closing once
/// the last answer is written, lingering, carrying a tunnel after a `101`, closed. `ClientConnection` feeds it
/// events and carries out the actions it returns; the HTTP rules themselves (framing, keep-alive, pipelining) are
/// `ServerConnectionStateMachine`'s.
struct ClientLifecycle: Equatable {
    /// How the answer of the request in progress is going.
    enum Response: Equatable {
        case notStarted
        /// A streamed answer whose body follows; `chunked` when authgate frames it.
        case streaming(chunked: Bool)
    }

    struct Exchange: Equatable {
        var response = Response.notStarted
        /// The handler paused reading the request body (its upstream is not keeping up).
        var readingPaused = false
    }

    enum State: Equatable {
        /// Reading requests; `exchange` is the one whose answer is owed, if any.
        case serving(exchange: Exchange?)
        /// The last answer is queued: once written, the connection lingers.
        case closingAfterFlush
        /// Half-closed: what the client still sends is read and dropped, until it closes or the linger ends.
        case lingering
        /// After a relayed `101`: the bytes go to and from the tunnel; reading pauses while the upstream's side of
        /// the tunnel has output pending.
        case tunneling(readingPaused: Bool)
        case closed
    }

    private(set) var state = State.serving(exchange: nil)
    /// Shutdown: the answer in progress says `Connection: close`, and an idle connection closes.
    private(set) var draining = false

    var exchange: Exchange? {
        if case .serving(let exchange) = state { return exchange }
        return nil
    }

    var isServing: Bool {
        if case .serving = state { return true }
        return false
    }

    var isClosed: Bool { state == .closed }

    mutating func exchangeStarted() {
        guard isServing else { return }
        state = .serving(exchange: Exchange())
    }

    mutating func responseStarted(chunked: Bool) {
        guard case .serving(var exchange?) = state else { return }
        exchange.response = .streaming(chunked: chunked)
        state = .serving(exchange: exchange)
    }

    mutating func handlerPausedReading(_ paused: Bool) {
        if case .tunneling = state {
            state = .tunneling(readingPaused: paused)
            return
        }
        guard case .serving(var exchange?) = state else { return }
        exchange.readingPaused = paused
        state = .serving(exchange: exchange)
    }

    /// Whether the client's bytes are to be read now.
    func wantsToRead(bufferedBytes: Int, maxBuffered: Int, hasPendingOutput: Bool) -> Bool {
        switch state {
        case .serving(let exchange):
            // A client that does not read its answers gets no more of its requests read: output stays bounded.
            return exchange?.readingPaused != true && bufferedBytes <= maxBuffered && !hasPendingOutput
        case .closingAfterFlush, .lingering:
            return true
        case .tunneling(let paused):
            return !paused
        case .closed:
            return false
        }
    }

    /// Whether the exchange's answer may be a `101`: none of it has started, and the server is not stopping (a
    /// tunnel opened while draining would only be held until the grace ends, then cut).
    var maySwitchProtocols: Bool {
        exchange?.response == .notStarted && !draining
    }

    /// The `101` of the exchange is on its way: the connection carries a tunnel from now on.
    mutating func becameTunnel() {
        guard isServing else { return }
        state = .tunneling(readingPaused: false)
    }

    enum AfterAnswer: Equatable {
        /// Decode what is buffered and read on.
        case continueReading
        /// Write what is queued, then linger.
        case closeAfterFlush
    }

    /// The answer of the exchange was handed over whole; `httpAfter` is what HTTP allows next.
    mutating func exchangeEnded(keepAlive: Bool) -> AfterAnswer {
        guard isServing else { return .closeAfterFlush }
        if keepAlive {
            state = .serving(exchange: nil)
            return .continueReading
        }
        state = .closingAfterFlush
        return .closeAfterFlush
    }

    /// A request refused before any handler answered it: its error answer goes out, then the connection closes.
    mutating func refused() {
        guard !isClosed else { return }
        state = .closingAfterFlush
    }

    enum AfterFlush: Equatable {
        case none
        /// The tunnel's output to the client is written: its upstream side may read again.
        case tunnelDrained
        /// Half-close now and discard what the client still sends.
        case beginLinger
        /// A streamed answer may continue; buffered requests may be decoded.
        case resume
    }

    mutating func outputFlushed() -> AfterFlush {
        switch state {
        case .closingAfterFlush:
            state = .lingering
            return .beginLinger
        case .serving:
            return .resume
        case .tunneling:
            return .tunnelDrained
        case .lingering, .closed:
            return .none
        }
    }

    enum AfterPeerEOF: Equatable {
        case close
        /// The tunnel decides: what the client sent last still goes upstream.
        case tunnelEnded
        /// Hand the end to the HTTP machine: an answer may still be owed.
        case askHTTP
    }

    mutating func peerEnded(hasPendingOutput: Bool) -> AfterPeerEOF {
        switch state {
        case .lingering:
            return .close
        case .closingAfterFlush where !hasPendingOutput:
            return .close
        case .closingAfterFlush:
            // The answer is still being written; its end starts the linger, which the end of input cuts short.
            return .askHTTP
        case .serving:
            return .askHTTP
        case .tunneling:
            return .tunnelEnded
        case .closed:
            return .close
        }
    }

    enum AfterDeadline: Equatable {
        case close
        /// The tunnel's periodic check: the token, revocations, idleness, shutdown.
        case checkTunnel
        /// Ask the HTTP machine: a partial head gets 408, an idle connection just closes.
        case headTimedOut
    }

    func deadlinePassed(hasPendingOutput: Bool) -> AfterDeadline {
        switch state {
        case .serving where !hasPendingOutput: return .headTimedOut
        case .tunneling: return .checkTunnel
        default: return .close
        }
    }

    /// Returns whether the connection is idle and closes now.
    mutating func drain(idle: Bool, hasPendingOutput: Bool) -> Bool {
        draining = true
        return isServing && exchange == nil && idle && !hasPendingOutput
    }

    mutating func closed() {
        state = .closed
    }
}
