import Cryptography
import Dispatch
package import HTTP1
import Time

/// One accepted client connection, confined to its loop. It carries out what its two machines decide: the
/// HTTP exchange (`ServerConnectionStateMachine`) and the connection's life around it (`ClientLifecycle`).
/// Its socket channel does the I/O; the connection keeps deadlines and the bytes of requests not yet decoded.
package final class ClientConnection: ChannelHandler, @unchecked Sendable {
    package let loop: EventLoop
    package let clientAddress: String
    let context: ServerContext
    private let channel: SocketChannel

    private var http: ServerConnectionStateMachine
    private var lifecycle = ClientLifecycle()
    /// Unconsumed bytes kept between reads: a partial head, or pipelined requests waiting their turn.
    private var inbound: [UInt8] = []

    /// Absolute monotonic deadline in ns; 0 means none. Checked by the loop's sweep.
    private(set) var deadline: UInt64 = 0
    /// What the deadline guards, so that it is armed once per phase instead of extended by every read.
    private var deadlineKind = DeadlineKind.none

    private enum DeadlineKind {
        case none, head, idle, activity, linger, handler
    }

    /// Runs when a handler's deadline passes (an upstream that does not answer); armed with `armHandlerDeadline`.
    private var handlerDeadlineExpired: (() -> Void)?

    /// The exchange in progress, for the access log.
    package var record = AccessRecord()
    private var requestStart: UInt64 = 0
    package private(set) var currentRequestID = ""
    private var currentVersion: HTTPVersion = .http11
    private var currentIsHead = false
    /// Where the current request's body goes; nil discards it.
    package var bodyConsumer: (any RequestBodyConsumer)?
    /// Called once pending output has been written: a streaming answer may continue.
    package var onOutputDrained: (() -> Void)?

    /// Whether the client reached authgate over TLS (X-Forwarded-Proto).
    package let isSecure: Bool

    init(channel: SocketChannel, context: ServerContext, clientAddress: String, isSecure: Bool) {
        self.channel = channel
        self.loop = channel.loop
        self.context = context
        self.clientAddress = clientAddress
        self.isSecure = isSecure
        self.http = ServerConnectionStateMachine(limits: context.limits)
    }

    func start() {
        loop.assertOnLoop()
        loop.register(self)
        channel.start(handler: self)
        // The head deadline covers a TLS handshake too: a client that never finishes it is closed.
        setDeadline(.head)
    }

    // MARK: Deadlines

    /// Calls `expired` once `nanoseconds` pass, unless disarmed first: the loop's sweep keeps the time,
    /// so a request costs no timer of its own.
    package func armHandlerDeadline(after nanoseconds: UInt64, expired: @escaping () -> Void) {
        handlerDeadlineExpired = expired
        deadlineKind = .handler
        deadline = SystemClock.coarseMonotonicNanoseconds() &+ nanoseconds
    }

    package func disarmHandlerDeadline() {
        guard deadlineKind == .handler else { return }
        handlerDeadlineExpired = nil
        setDeadline(.none)
    }

    private func setDeadline(_ kind: DeadlineKind) {
        deadlineKind = kind
        let timeout: UInt64
        switch kind {
        case .none, .handler: timeout = 0
        case .head: timeout = context.timeouts.head
        case .idle, .activity: timeout = context.timeouts.idle
        case .linger: timeout = context.timeouts.linger
        }
        deadline = timeout == 0 ? 0 : SystemClock.coarseMonotonicNanoseconds() &+ timeout
    }

    /// Arms the deadline the connection's current phase calls for, unless it is already armed.
    private func armDeadlineForPhase() {
        if http.isIdle {
            if deadlineKind != .idle { setDeadline(.idle) }
        } else if http.isReadingHead {
            if deadlineKind != .head { setDeadline(.head) }
        }
    }

    func deadlineExpired() {
        guard !lifecycle.isClosed else { return }
        if deadlineKind == .handler, let expired = handlerDeadlineExpired {
            handlerDeadlineExpired = nil
            setDeadline(.none)
            expired()
            return
        }
        switch lifecycle.deadlinePassed(hasPendingOutput: channel.hasPendingOutput) {
        case .close:
            closeNow()
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
        if case .lingering = lifecycle.state { return }  // discard: the answer is already written
        if !http.isReadingHead && deadlineKind != .handler { setDeadline(.activity) }
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
        if deadlineKind == .activity {
            setDeadline(.none)
            armDeadlineForPhase()
        }
        switch lifecycle.outputFlushed() {
        case .none:
            break
        case .beginLinger:
            beginLinger()
        case .resume:
            onOutputDrained?()
            if http.isReadingHead && !inbound.isEmpty { processInbound() }
            updateReading()
        }
    }

    func channelFailed(_ error: ChannelError) {
        closeNow()
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
                if deadlineKind != .handler { setDeadline(.none) }
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
        record.client = clientAddress
        record.method = head.method
        record.path = head.path
        lifecycle.exchangeStarted()
        setDeadline(.none)
    }

    /// The handler stops (or resumes) reading the request: its upstream is not keeping up.
    package func pauseReading(_ paused: Bool) {
        lifecycle.handlerPausedReading(paused)
        updateReading()
    }

    // MARK: Answering

    /// Writes `100 Continue` if the client asked for it and it was not yet sent. Call before reading a body.
    package func continueIfExpected() {
        if http.handlerWillReadBody() {
            send(Self.continueLine)
        }
    }

    private static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Answers the current request with a complete response that authgate made itself.
    package func respond(
        _ status: HTTPStatus,
        headers: [(String, String)] = [],
        body: [UInt8],
        keepAlive: Bool = true
    ) {
        loop.assertOnLoop()
        guard lifecycle.exchange != nil else { return }
        let staysOpen = http.responseWillStart(keepAlive: keepAlive && !lifecycle.draining)
        var head = HeadWriter(capacity: 256 + body.count)
        head.statusLine(status.code, reason: status.reason)
        for (name, value) in headers { head.field(name: name, value: value) }
        head.field("Content-Length", decimal: UInt64(body.count))
        writeCommonFields(&head, keepAlive: staysOpen)
        var bytes = head.bytes
        if !currentIsHead { bytes.append(contentsOf: body) }
        record.status = status.code
        record.bytesSent = bytes.count
        finishExchange(sendingLast: bytes)
    }

    /// The fields every answer carries, last: Date, X-Request-Id and what the connection does next.
    private func writeCommonFields(_ head: inout HeadWriter, keepAlive: Bool) {
        head.field("Date", loop.httpDate())
        head.field("X-Request-Id", currentRequestID)
        if !keepAlive {
            head.field("Connection", "close")
        } else if currentVersion == .http10 {
            head.field("Connection", "keep-alive")
        }
        head.end()
    }

    /// Answers with the JSON `{"message": …}` body of the status.
    package func respondWithMessage(_ status: HTTPStatus, headers: [(String, String)] = [], keepAlive: Bool = true) {
        var allHeaders = headers
        allHeaders.append(("Content-Type", "application/json"))
        respond(status, headers: allHeaders, body: status.messageBody, keepAlive: keepAlive)
    }

    /// How a streamed answer's body is delimited towards the client.
    package enum StreamFraming: Sendable {
        case none
        case length(UInt64)
        /// Re-chunked (HTTP/1.1 clients) or delimited by closing the connection (HTTP/1.0 clients).
        case unknownLength
    }

    /// Starts an answer whose body follows with `sendBody` and `endResponse`. `fields` writes the answer's own
    /// fields (the upstream's, as bytes); authgate's framing and common fields follow them.
    package func beginResponse(
        status: Int, reason: UnsafeRawBufferPointer, framing: StreamFraming, keepAlive: Bool = true,
        fields: (inout HeadWriter) -> Void
    ) {
        loop.assertOnLoop()
        guard lifecycle.exchange?.response == .notStarted else { return }
        var wantsKeepAlive = keepAlive
        var chunked = false
        if case .unknownLength = framing {
            chunked = currentVersion == .http11 && !currentIsHead
            if currentVersion != .http11 { wantsKeepAlive = false }
        }
        let staysOpen = http.responseWillStart(keepAlive: wantsKeepAlive && !lifecycle.draining)
        var head = HeadWriter()
        head.statusLine(status, reason: reason)
        fields(&head)
        if case .length(let length) = framing { head.field("Content-Length", decimal: length) }
        if chunked { head.field("Transfer-Encoding", "chunked") }
        writeCommonFields(&head, keepAlive: staysOpen)
        record.status = status
        record.bytesSent = head.bytes.count
        lifecycle.responseStarted(chunked: chunked)
        // Held for the body bytes that usually arrive in the same read: one write for both.
        guard !lifecycle.isClosed else { return }
        channel.writeSoon(head.bytes)
    }

    /// Body bytes of a streamed answer (chunk-framed when the answer is chunked).
    package func sendBody(_ bytes: UnsafeRawBufferPointer) {
        guard case .streaming(let chunked)? = lifecycle.exchange?.response, !bytes.isEmpty, !currentIsHead else {
            return
        }
        // Held to the end of the event: if the answer ends in it, its record is written before its last byte leaves.
        if chunked {
            let framed = ChunkedEncoder.chunk(bytes)
            record.bytesSent += framed.count
            channel.writeSoon(framed)
        } else {
            record.bytesSent += bytes.count
            channel.writeSoon(bytes)
        }
        noteOutputQueued()
    }

    /// Ends a streamed answer.
    package func endResponse() {
        guard case .streaming(let chunked)? = lifecycle.exchange?.response else { return }
        if chunked {
            record.bytesSent += ChunkedEncoder.lastChunk.count
            finishExchange(sendingLast: ChunkedEncoder.lastChunk)
        } else {
            finishExchange()
        }
    }

    /// Whether a streamed answer has begun (an error can then no longer be answered, only the connection closed).
    package var hasStartedResponse: Bool {
        if case .streaming? = lifecycle.exchange?.response { return true }
        return false
    }

    /// Records the exchange, then hands over its last bytes: whoever has the answer can read its access line and
    /// its metrics.
    private func finishExchange(sendingLast last: [UInt8] = []) {
        handlerDeadlineExpired = nil
        if deadlineKind == .handler { setDeadline(.none) }
        onOutputDrained = nil
        record.durationNanoseconds = SystemClock.monotonicNanoseconds() &- requestStart
        context.observer.exchangeFinished(record, loop: loop)
        // An idle keep-alive connection holds nothing of its last exchange (its head, its token, its record).
        record = AccessRecord()
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

    /// A request refused before any handler saw it (malformed, too large, too slow).
    private func refuse(_ error: HTTPParseError) {
        if lifecycle.exchange == nil {
            requestStart = SystemClock.monotonicNanoseconds()
            currentRequestID = RequestID.uuid(random: KernelRandom.next128Bits())
            record = AccessRecord()
            record.requestID = currentRequestID
            record.client = clientAddress
        }
        record.authorization = error.description
        bodyConsumer?.connectionAborted(connection: self)
        bodyConsumer = nil
        let status = error.status
        let body = status.messageBody
        var head = HeadWriter(capacity: 256 + body.count)
        head.statusLine(status.code, reason: status.reason)
        head.field("Content-Type", "application/json")
        head.field("Content-Length", decimal: UInt64(body.count))
        writeCommonFields(&head, keepAlive: false)
        var bytes = head.bytes
        bytes.append(contentsOf: body)
        record.status = status.code
        record.bytesSent = bytes.count
        record.durationNanoseconds = SystemClock.monotonicNanoseconds() &- requestStart
        context.observer.exchangeFinished(record, loop: loop)
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

    private func noteOutputQueued() {
        // A client that stops reading must not hold the connection forever.
        if channel.isBackedUp && deadlineKind == .none { setDeadline(.activity) }
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
        setDeadline(.linger)
        updateReading()
    }

    /// Closes at once: the socket leaves the loop's epoll set and is closed in the same step.
    package func closeNow() {
        guard !lifecycle.isClosed else { return }
        let exchangeOpen = lifecycle.exchange != nil
        lifecycle.closed()
        setDeadline(.none)
        let consumer = bodyConsumer
        bodyConsumer = nil
        onOutputDrained = nil
        handlerDeadlineExpired = nil
        if exchangeOpen { consumer?.connectionAborted(connection: self) }
        loop.unregister(self)
        context.limiter.release()
        channel.close()
    }

    /// Shutdown: closes the connection if it is idle between requests; otherwise its current answer says
    /// `Connection: close`, so a busy keep-alive client cannot hold the drain open with new requests.
    package func drain() {
        if lifecycle.drain(idle: http.isIdle, hasPendingOutput: channel.hasPendingOutput) { closeNow() }
    }
}
