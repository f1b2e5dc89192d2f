import Cryptography
import Dispatch
package import Endpoints
package import HTTP1
import Time

/// One accepted client connection, confined to its loop. It carries out what its two machines decide: the
/// HTTP exchange (`ServerConnectionStateMachine`) and the connection's life around it (`ClientLifecycle`).
/// Its socket channel does the I/O; the connection keeps deadlines and the bytes of requests not yet decoded.
/// After a relayed `101` its bytes go to and from its `Tunnel` instead (the `101` itself: ClientConnection+Answers).
package final class ClientConnection: ChannelHandler, @unchecked Sendable {
    package let loop: EventLoop
    /// The connection's remote end as text ("192.0.2.1", "2001:db8::1", "unix"): what `X-Forwarded-For` gets.
    package let peerAddress: String
    /// The remote end as a value, parsed once for the connection; nil for a unix socket.
    package let peer: IPAddress?
    /// The client of the current request: the peer, unless the handler derived another one from a trusted
    /// proxy's `X-Forwarded-For` (`useClientAddress`). The access log, the rate limits and `X-Real-IP` use it.
    package private(set) var clientAddress: String
    let context: ServerContext
    let channel: SocketChannel

    var http: ServerConnectionStateMachine
    var lifecycle = ClientLifecycle()
    /// Unconsumed bytes kept between reads: a partial head, or pipelined requests waiting their turn.
    private var inbound: [UInt8] = []
    /// The tunnel the connection carries, from the `101` until the tunnel ends: what the connection's events go to.
    /// The one place the connection asks whether it is a tunnel's end; `lifecycle` turns `.tunneling` with it, for
    /// its own decisions (reading, flushes, ends, deadlines).
    private(set) var tunnel: Tunnel?

    private var deadlineState: ConnectionDeadline
    /// Absolute monotonic deadline in ns; 0 means none. Checked by the loop's sweep.
    var deadline: UInt64 { deadlineState.time }

    /// Told when a handler's deadline passes (an upstream that does not answer); armed with `armHandlerDeadline`.
    /// An object rather than a closure: a closure would be allocated for every forwarded request.
    private var handlerDeadlineExpired: (any HandlerDeadlineObserver)?

    /// The exchange in progress, for the access log.
    package var record = AccessRecord()
    private var requestStart: UInt64 = 0
    package private(set) var currentRequestID = RequestID()
    private(set) var currentVersion: HTTPVersion = .http11
    private(set) var currentIsHead = false
    /// Where the current request's body goes; nil discards it.
    package var bodyConsumer: (any RequestBodyConsumer)?
    /// The upstream whose answer streams to this client: paused while the client is slow, read again once the
    /// pending output has been written. A reference, not a closure: one is set on every proxied exchange.
    package var upstreamToResume: UpstreamConnection?
    /// Field lines (serialized ahead of time, each ending in CRLF) that every answer of the current exchange
    /// carries besides its own: the CORS policy's, set by the handler. Cleared when the exchange ends.
    package var extraAnswerFields: [UInt8] = []

    /// Whether the client reached authgate over TLS (X-Forwarded-Proto).
    package let isSecure: Bool

    init(channel: SocketChannel, context: ServerContext, peerAddress: String, peer: IPAddress?, isSecure: Bool) {
        self.channel = channel
        self.loop = channel.loop
        self.context = context
        self.peerAddress = peerAddress
        self.peer = peer
        self.clientAddress = peerAddress
        self.isSecure = isSecure
        self.http = ServerConnectionStateMachine(limits: context.limits)
        self.deadlineState = ConnectionDeadline(timeouts: context.timeouts)
    }

    func start() {
        loop.assertOnLoop()
        loop.register(self)
        channel.start(handler: self)
        // The head deadline covers a TLS handshake too: a client that never finishes it is closed.
        deadlineState.set(.head)
    }

    // MARK: Deadlines

    /// Calls `expired` once `nanoseconds` pass, unless disarmed first: the loop's sweep keeps the time,
    /// so a request costs no timer of its own.
    package func armHandlerDeadline(after nanoseconds: UInt64, observer: any HandlerDeadlineObserver) {
        handlerDeadlineExpired = observer
        deadlineState.setHandler(after: nanoseconds)
    }

    package func disarmHandlerDeadline() {
        guard deadlineState.kind == .handler else { return }
        handlerDeadlineExpired = nil
        deadlineState.set(.none)
    }

    private func armDeadlineForPhase() {
        deadlineState.arm(idle: http.isIdle, readingHead: http.isReadingHead)
    }

    func deadlineExpired() {
        guard !lifecycle.isClosed else { return }
        if deadlineState.kind == .handler, let expired = handlerDeadlineExpired {
            handlerDeadlineExpired = nil
            deadlineState.set(.none)
            expired.handlerDeadlinePassed()
            return
        }
        switch lifecycle.deadlinePassed(hasPendingOutput: channel.hasPendingOutput) {
        case .close:
            closeNow()
        case .checkTunnel:
            deadlineState.set(.tunnel)
            tunnel?.check()
        case .headTimedOut:
            switch http.headTimedOut() {
            case .respondWithErrorAndClose(let error): refuse(error)
            // An idle connection, or a body read too slowly: the answer cannot be given sensibly any more.
            default: closeNow()
            }
        }
    }

    // MARK: Channel events

    func channelActive() {}

    func channelRead(_ bytes: UnsafeRawBufferPointer) {
        if let tunnel {
            tunnel.clientBytes(bytes)
            return
        }
        if case .lingering = lifecycle.state { return }  // discard: the answer is already written
        if !http.isReadingHead && deadlineState.kind != .handler { deadlineState.set(.activity) }
        if inbound.isEmpty {
            process(bytes)
        } else {
            inbound.append(contentsOf: bytes)
            processInbound()
        }
    }

    func channelReadEOF() {
        switch lifecycle.peerEnded(hasPendingOutput: channel.hasPendingOutput) {
        case .close:
            closeNow()
        case .tunnelEnded:
            tunnel?.clientEnded()
        case .askHTTP:
            if case .awaitResponse = http.peerClosed() {
                // The answer is still owed (or still being written); it closes after the answer.
                updateReading()
            } else if case .closingAfterFlush = lifecycle.state {
                // Nothing more comes to linger for: close once the answer is out.
                updateReading()
            } else {
                closeNow()
            }
        }
    }

    func channelDrained() {
        if deadlineState.kind == .activity {
            deadlineState.set(.none)
            armDeadlineForPhase()
        }
        switch lifecycle.outputFlushed() {
        case .none:
            break
        case .tunnelDrained:
            tunnel?.clientDrained()
        case .beginLinger:
            beginLinger()
        case .resume:
            upstreamToResume?.setReading(true)
            if http.isReadingHead && !inbound.isEmpty { processInbound() }
            updateReading()
        }
    }

    func channelFailed(_ error: ChannelError) {
        if let tunnel {
            tunnel.failed()
        } else {
            closeNow()
        }
    }

    // MARK: Reading

    private func processInbound() {
        guard !inbound.isEmpty else { return }
        let pending = inbound
        inbound = []
        pending.withUnsafeBytes { process($0) }
    }

    private func process(_ buffer: UnsafeRawBufferPointer) {
        var offset = 0
        decoding: while lifecycle.isServing {
            if channel.hasPendingOutput && http.isReadingHead { break decoding }
            let (action, consumed) = http.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
            let base = offset
            offset += consumed
            switch action {
            case .readMore, .awaitResponse:
                break decoding
            case .head(let head):
                startExchange(head)
                context.handler.handle(head, connection: self)
            case .body(let range):
                let slice = UnsafeRawBufferPointer(
                    rebasing: buffer[(base + range.lowerBound)..<(base + range.upperBound)])
                bodyConsumer?.bodyBytes(slice, connection: self)
            case .bodyEnd:
                if deadlineState.kind != .handler { deadlineState.set(.none) }
                bodyConsumer?.bodyEnded(connection: self)
            case .respondWithErrorAndClose(let error):
                refuse(error)
                break decoding
            case .close:
                closeNow()
                return
            }
        }
        guard lifecycle.isServing else { return }
        if offset < buffer.count {
            inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[offset...]))
        }
        armDeadlineForPhase()
        updateReading()
    }

    /// Reads when the machines want bytes: pipelined bytes beyond one head's worth wait in the kernel.
    private func updateReading() {
        guard !lifecycle.isClosed else { return }
        channel.setReading(
            lifecycle.wantsToRead(
                bufferedBytes: inbound.count, maxBuffered: context.limits.maxHeadBytes,
                hasPendingOutput: channel.hasPendingOutput))
    }

    private func startExchange(_ head: RequestHead) {
        requestStart = SystemClock.monotonicNanoseconds()
        currentRequestID = RequestID.forRequest(head, random: KernelRandom.next128Bits)
        currentVersion = head.version
        currentIsHead = head.isHead
        bodyConsumer = nil
        record = AccessRecord()
        record.requestID = currentRequestID
        clientAddress = peerAddress
        record.client = peerAddress
        record.method = head.method
        record.path = head.path
        lifecycle.exchangeStarted()
        deadlineState.set(.none)
    }

    /// The current request's client is `address` (derived from a trusted proxy's `X-Forwarded-For`), not the peer.
    package func useClientAddress(_ address: String) {
        clientAddress = address
        record.client = address
    }

    /// The handler stops (or resumes) reading the request: its upstream is not keeping up.
    package func pauseReading(_ paused: Bool) {
        lifecycle.handlerPausedReading(paused)
        updateReading()
    }

    /// Records the exchange, then hands over its last bytes: whoever has the answer can read its access line and
    /// its metrics.
    func finishExchange(sendingLast last: [UInt8] = []) {
        handlerDeadlineExpired = nil
        if deadlineState.kind == .handler { deadlineState.set(.none) }
        upstreamToResume = nil
        // An idle keep-alive connection holds nothing of its last exchange (its head, its token, its record).
        recordFinishedExchange()
        extraAnswerFields = []
        bodyConsumer = nil
        send(last)
        let keepAlive = http.responseEnded() == .continueReading
        switch lifecycle.exchangeEnded(keepAlive: keepAlive) {
        case .closeAfterFlush:
            closeAfterFlush()
        case .continueReading:
            armDeadlineForPhase()
            // Pipelined requests are decoded after the caller's work, never inside it.
            if !inbound.isEmpty { loop.runSoon { [self] in if lifecycle.isServing { processInbound() } } }
            updateReading()
        }
    }

    /// Hands the exchange's record, with its duration, to the access log and the metrics, and keeps a fresh one:
    /// moved out rather than copied (a copy retains and releases each of its strings).
    private func recordFinishedExchange() {
        var finished = AccessRecord()
        swap(&finished, &record)
        finished.durationNanoseconds = SystemClock.monotonicNanoseconds() &- requestStart
        context.observer.exchangeFinished(finished, loop: loop)
    }

    /// A request refused before any handler saw it (malformed, too large, too slow).
    private func refuse(_ error: HTTPParseError) {
        if lifecycle.exchange == nil {
            requestStart = SystemClock.monotonicNanoseconds()
            currentRequestID = RequestID.uuid(random: KernelRandom.next128Bits())
            record = AccessRecord()
            record.requestID = currentRequestID
            clientAddress = peerAddress
            record.client = peerAddress
        }
        record.authorization = error.description
        bodyConsumer?.connectionAborted(connection: self)
        bodyConsumer = nil
        let status = error.status
        let body = status.messageBody
        let bytes = answer(
            status, headers: [("Content-Type", "application/json")], body: body, length: body.count, keepAlive: false)
        record.status = status.code
        record.bytesSent = bytes.count
        recordFinishedExchange()
        lifecycle.refused()
        send(bytes)
        closeAfterFlush()
    }

    // MARK: Writing

    /// Queues bytes for the client; the channel writes at once what the socket takes.
    package func send(_ bytes: [UInt8]) {
        guard !lifecycle.isClosed, !bytes.isEmpty else { return }
        channel.write(bytes)
        noteOutputQueued()
    }

    func noteOutputQueued() {
        // A client that stops reading must not hold the connection forever.
        if channel.isBackedUp && deadlineState.kind == .none { deadlineState.set(.activity) }
    }

    /// Whether bytes are waiting for the client to read them: callers streaming to it should pause.
    package var hasPendingOutput: Bool { channel.isBackedUp }

    // MARK: Closing

    private func closeAfterFlush() {
        updateReading()
        if !channel.hasPendingOutput, lifecycle.outputFlushed() == .beginLinger { beginLinger() }
    }

    /// Half-closes and discards what the client still sends for a moment, so the answer is read
    /// before the kernel would reset the connection over unread bytes (nginx's lingering close).
    private func beginLinger() {
        guard !lifecycle.isClosed else { return }
        // The client already said it sends nothing more: there is nothing to linger for.
        if channel.hasInputEnded {
            closeNow()
            return
        }
        channel.shutdownOutput()
        deadlineState.set(.linger)
        updateReading()
    }

    /// Closes at once: the socket leaves the loop's epoll set and is closed in the same step. A tunnel's client
    /// closes through its tunnel, which closes the upstream too.
    package func closeNow() {
        guard !lifecycle.isClosed else { return }
        if let tunnel {
            tunnel.failed()
            return
        }
        let exchangeOpen = lifecycle.exchange != nil
        lifecycle.closed()
        deadlineState.set(.none)
        let consumer = bodyConsumer
        bodyConsumer = nil
        upstreamToResume = nil
        handlerDeadlineExpired = nil
        if exchangeOpen { consumer?.connectionAborted(connection: self) }
        loop.unregister(self)
        context.limiter.release()
        channel.close()
    }

    /// Shutdown: closes the connection if it is idle between requests; otherwise its current answer says
    /// `Connection: close`, so a busy keep-alive client cannot hold the drain open with new requests. A tunnel
    /// stays until `graceOver` (the end of `shutdown_grace`), then closes.
    package func drain(graceOver: Bool = false) {
        if let tunnel {
            if graceOver { tunnel.shutdown() }
            return
        }
        if lifecycle.drain(idle: http.isIdle, hasPendingOutput: channel.hasPendingOutput) { closeNow() }
    }

    // MARK: Tunnel

    /// The `101` is on its way: from now on the connection's bytes are `tunnel`'s, checked at each sweep of the loop.
    func becomeTunnel(_ tunnel: Tunnel) {
        self.tunnel = tunnel
        lifecycle.becameTunnel()
        handlerDeadlineExpired = nil
        bodyConsumer = nil
        upstreamToResume = nil
        deadlineState.set(.tunnel)
        // Reading may be off from before the switch (bytes beyond a head's worth came early, or the handler
        // paused the client while the upgrade went up); the tunnel reads until its upstream falls behind.
        updateReading()
    }

    /// Bytes the client sent after its request head, before the `101` (a first frame that did not wait for it).
    func takeEarlyTunnelBytes() -> [UInt8]? {
        guard !inbound.isEmpty else { return nil }
        defer { inbound = [] }
        return inbound
    }

    /// The tunnel ended: the exchange's access line (status 101, every byte sent, the tunnel's whole duration)
    /// is written, then the connection closes.
    func endTunnel() {
        guard tunnel != nil else { return }
        tunnel = nil
        recordFinishedExchange()
        closeNow()
    }
}
