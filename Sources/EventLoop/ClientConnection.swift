import Cryptography
import Dispatch
public import HTTP1

/// One accepted client connection, confined to its loop. It carries out the state machine's actions:
/// reading, writing with backpressure, deadlines, and closing without losing the last answer.
public final class ClientConnection: @unchecked Sendable {
    public let loop: EventLoop
    public let clientAddress: String
    let fd: Int32
    let context: ServerContext

    private var machine: ServerConnectionStateMachine
    /// Unconsumed bytes kept between reads: a partial head, or pipelined requests waiting their turn.
    private var inbound: [UInt8] = []
    private var outbound: [UInt8] = []
    private var outboundOffset = 0

    private lazy var sources = SocketSources(
        fd: fd, queue: loop.queue, onReadable: { [unowned self] in readable() },
        onWritable: { [unowned self] in writable() }
    )

    private var processing = false
    private var closeWhenFlushed = false
    private var lingering = false
    private var closed = false
    /// Absolute monotonic deadline in ns; 0 means none. Checked by the loop's sweep.
    private(set) var deadline: UInt64 = 0
    /// What the deadline guards, so that it is armed once per phase instead of extended by every read.
    private var deadlineKind = DeadlineKind.none

    private enum DeadlineKind {
        case none, head, idle, activity, linger, handler
    }

    /// Runs when a handler's deadline passes (an upstream that does not answer); armed with `armHandlerDeadline`.
    private var handlerDeadlineExpired: (() -> Void)?

    /// Calls `expired` once `nanoseconds` pass, unless disarmed first: the loop's sweep keeps the time,
    /// so a request costs no timer of its own.
    public func armHandlerDeadline(after nanoseconds: UInt64, expired: @escaping () -> Void) {
        handlerDeadlineExpired = expired
        deadlineKind = .handler
        deadline = MonotonicClock.coarseNow() &+ nanoseconds
    }

    public func disarmHandlerDeadline() {
        guard deadlineKind == .handler else { return }
        handlerDeadlineExpired = nil
        setDeadline(.none)
    }

    /// The exchange in progress, for the access log.
    public var record = AccessRecord()
    private var requestStart: UInt64 = 0
    public private(set) var currentRequestID = ""
    private var currentVersion: HTTPVersion = .http11
    private var currentIsHead = false
    private var exchangeOpen = false
    /// Where the current request's body goes; nil discards it.
    public var bodyConsumer: (any RequestBodyConsumer)?
    /// Called once pending output has been written: a streaming answer may continue.
    public var onOutputDrained: (() -> Void)?
    private var streamingChunked = false
    private var streamingResponse = false
    private var handlerPausedReading = false
    /// The TLS session of an HTTPS listener's connection; `handshaking` until it is established.
    private var tls: TLSSession?
    private var handshaking = false

    /// Whether the client reached authgate over TLS (X-Forwarded-Proto).
    public var isSecure: Bool { tls != nil }

    init(fd: Int32, loop: EventLoop, context: ServerContext, clientAddress: String) {
        self.fd = fd
        self.loop = loop
        self.context = context
        self.clientAddress = clientAddress
        self.machine = ServerConnectionStateMachine(limits: context.limits)
    }

    func start() {
        loop.assertOnLoop()
        loop.register(self)
        if let tlsContext = context.tls {
            do {
                tls = try TLSSession(context: tlsContext, fd: fd)
            } catch {
                closeNow()
                return
            }
            handshaking = true
        }
        sources.setReading(true)
        // The head deadline covers the handshake too: a client that never finishes it is closed.
        setDeadline(.head)
    }

    /// Drives the handshake on either readiness; application bytes OpenSSL already holds are read once it is done.
    private func continueHandshake() {
        guard let tls, !closed else { return }
        switch tls.handshake() {
        case .done:
            handshaking = false
            sources.setWriting(false)
            readableTLS(tls)
        case .wantRead:
            sources.setWriting(false)
        case .wantWrite:
            sources.setWriting(true)
        case .closed, .failed:
            closeNow()
        }
    }

    private func setDeadline(_ kind: DeadlineKind) {
        deadlineKind = kind
        let timeout: UInt64
        switch kind {
        case .none: timeout = 0
        case .head: timeout = context.timeouts.head
        case .idle, .activity: timeout = context.timeouts.idle
        case .linger: timeout = context.timeouts.linger
        case .handler: timeout = 0
        }
        deadline = timeout == 0 ? 0 : MonotonicClock.coarseNow() &+ timeout
    }

    /// Arms the deadline the connection's current phase calls for, unless it is already armed.
    private func armDeadlineForPhase() {
        if machine.isIdle {
            if deadlineKind != .idle { setDeadline(.idle) }
        } else if machine.isReadingHead {
            if deadlineKind != .head { setDeadline(.head) }
        }
    }

    // MARK: Reading

    private func readable() {
        guard !closed else { return }
        if let tls, !lingering {
            if handshaking { continueHandshake() } else { readableTLS(tls) }
            return
        }
        let result: IOResult
        do {
            result = try Syscall.read(fd, loop.scratch)
        } catch {
            closeNow()
            return
        }
        guard case .processed(let count) = result else { return }
        if count == 0 {
            peerClosedSending()
            return
        }
        if lingering { return }  // discard: the answer is already written
        received(count)
    }

    /// `count` new bytes from the client at the start of the loop's scratch buffer.
    private func received(_ count: Int) {
        if !machine.isReadingHead && deadlineKind != .handler { setDeadline(.activity) }
        if inbound.isEmpty {
            process(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<count]))
        } else {
            inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: loop.scratch[0..<count]))
            processInbound()
        }
    }

    /// One socket read's worth through OpenSSL, then whatever it already decrypted (at most a record), which
    /// the socket would not signal again.
    private func readableTLS(_ tls: TLSSession) {
        repeat {
            let (count, progress) = tls.read(into: loop.scratch)
            if count > 0 {
                received(count)
                continue
            }
            switch progress {
            case .done, .wantRead:
                return
            case .wantWrite:
                sources.setWriting(true)
                return
            case .closed:
                peerClosedSending()
                return
            case .failed:
                closeNow()
                return
            }
        } while !closed && !lingering && sources.isReading && tls.pendingBytes > 0
    }

    private func processInbound() {
        let pending = inbound
        inbound = []
        pending.withUnsafeBytes { process($0) }
    }

    private func process(_ buffer: UnsafeRawBufferPointer) {
        processing = true
        defer { processing = false }
        var offset = 0
        decoding: while !closed {
            // A client that does not read its answers gets no more of its requests read: output stays bounded.
            if hasPendingOutput && machine.isReadingHead { break decoding }
            let (action, consumed) = machine.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
            let base = offset
            offset += consumed
            switch action {
            case .readMore:
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
                let consumer = bodyConsumer
                consumer?.bodyEnded(connection: self)
            case .awaitResponse:
                break decoding
            case .respondWithErrorAndClose(let error):
                refuse(error)
                break decoding
            case .close:
                closeNow()
                return
            }
        }
        guard !closed, !lingering else { return }
        if offset < buffer.count {
            inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[offset...]))
        }
        armDeadlineForPhase()
        // Pipelined bytes beyond one head's worth wait in the kernel until the current answer is done.
        setReading(inbound.count <= context.limits.maxHeadBytes && !hasPendingOutput)
    }

    private func setReading(_ wanted: Bool) {
        let enabled = wanted && !handlerPausedReading
        guard !closed else { return }
        sources.setReading(enabled)
        // Bytes OpenSSL decrypted while reading was paused will not make the socket readable again.
        if enabled, !handshaking, let tls, tls.pendingBytes > 0 {
            loop.queue.async { [self] in
                if sources.isReading && !closed, let tls = self.tls { readableTLS(tls) }
            }
        }
    }

    private func startExchange(_ head: RequestHead) {
        requestStart = MonotonicClock.now()
        currentRequestID = RequestID.forRequest(head)
        currentVersion = head.version
        currentIsHead = head.isHead
        bodyConsumer = nil
        record = AccessRecord()
        record.requestID = currentRequestID
        record.client = clientAddress
        record.method = head.method
        record.path = head.path
        exchangeOpen = true
        setDeadline(.none)
    }

    private func peerClosedSending() {
        if lingering || closeWhenFlushed && outbound.isEmpty {
            closeNow()
            return
        }
        switch machine.peerClosed() {
        case .awaitResponse:
            // The answer is still owed; stop reading, it will close after the answer.
            setReading(false)
        default:
            closeNow()
        }
    }

    // MARK: Answering

    /// Writes `100 Continue` if the client asked for it and it was not yet sent. Call before reading a body.
    public func continueIfExpected() {
        if machine.handlerWillReadBody() {
            send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
    }

    /// Answers the current request with a complete response that authgate made itself.
    public func respond(
        _ status: HTTPStatus,
        headers: [(String, String)] = [],
        body: [UInt8],
        keepAlive: Bool = true
    ) {
        loop.assertOnLoop()
        guard !closed else { return }
        let staysOpen = machine.responseWillStart(keepAlive: keepAlive && !draining)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + body.count)
        var allHeaders = headers
        allHeaders.append(("X-Request-Id", currentRequestID))
        ResponseWriter.serialize(
            status: status, headers: allHeaders, contentLength: body.count, keepAlive: staysOpen,
            version: currentVersion, date: loop.httpDate(), into: &bytes
        )
        if !currentIsHead { bytes.append(contentsOf: body) }
        record.status = status.code
        record.bytesSent = bytes.count
        send(bytes)
        finishExchange()
    }

    /// Answers with the JSON `{"message": …}` body of the status.
    public func respondWithMessage(_ status: HTTPStatus, headers: [(String, String)] = [], keepAlive: Bool = true) {
        var allHeaders = headers
        allHeaders.append(("Content-Type", "application/json"))
        respond(status, headers: allHeaders, body: ResponseWriter.messageBody(status.reason), keepAlive: keepAlive)
    }

    /// How a streamed answer's body is delimited towards the client.
    public enum StreamFraming: Sendable {
        case none
        case length(UInt64)
        /// Re-chunked (HTTP/1.1 clients) or delimited by closing the connection (HTTP/1.0 clients).
        case unknownLength
    }

    /// Starts an answer whose body follows with `sendBody` and `endResponse`.
    public func beginResponse(
        status: Int, reason: String, headers: [(String, String)], framing: StreamFraming, keepAlive: Bool = true
    ) {
        loop.assertOnLoop()
        guard !closed else { return }
        var wantsKeepAlive = keepAlive
        var lengthField: (String, String)?
        streamingChunked = false
        switch framing {
        case .none:
            break
        case .length(let length):
            lengthField = ("Content-Length", String(length))
        case .unknownLength:
            if currentVersion == .http11 {
                streamingChunked = !currentIsHead
                if streamingChunked { lengthField = ("Transfer-Encoding", "chunked") }
            } else {
                wantsKeepAlive = false
            }
        }
        let staysOpen = machine.responseWillStart(keepAlive: wantsKeepAlive && !draining)
        var allHeaders = headers
        if let lengthField { allHeaders.append(lengthField) }
        allHeaders.append(("X-Request-Id", currentRequestID))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        ResponseWriter.serialize(
            status: HTTPStatus(code: status, reason: reason), headers: allHeaders, contentLength: nil,
            keepAlive: staysOpen, version: currentVersion, date: loop.httpDate(), into: &bytes
        )
        record.status = status
        record.bytesSent = bytes.count
        streamingResponse = true
        send(bytes)
    }

    /// Body bytes of a streamed answer (chunk-framed when the answer is chunked).
    public func sendBody(_ bytes: UnsafeRawBufferPointer) {
        guard !closed, streamingResponse, !bytes.isEmpty, !currentIsHead else { return }
        var out: [UInt8] = []
        if streamingChunked {
            out.reserveCapacity(bytes.count + 16)
            out.append(contentsOf: String(bytes.count, radix: 16).utf8)
            out.append(contentsOf: [13, 10])
            out.append(contentsOf: bytes)
            out.append(contentsOf: [13, 10])
        } else {
            out = Array(bytes)
        }
        record.bytesSent += out.count
        send(out)
    }

    /// Ends a streamed answer.
    public func endResponse() {
        guard !closed, streamingResponse else { return }
        streamingResponse = false
        if streamingChunked {
            send(Array("0\r\n\r\n".utf8))
            record.bytesSent += 5
        }
        finishExchange()
    }

    /// Whether a streamed answer has begun (an error can then no longer be answered, only the connection closed).
    public var hasStartedResponse: Bool { streamingResponse }

    /// The handler stops (or resumes) reading the request: its upstream is not keeping up.
    public func pauseReading(_ paused: Bool) {
        handlerPausedReading = paused
        setReading(!paused && inbound.count <= context.limits.maxHeadBytes && !hasPendingOutput)
    }

    private func finishExchange() {
        exchangeOpen = false
        handlerDeadlineExpired = nil
        if deadlineKind == .handler { setDeadline(.none) }
        handlerPausedReading = false
        onOutputDrained = nil
        record.durationNanoseconds = MonotonicClock.now() &- requestStart
        context.observer.exchangeFinished(record, loop: loop)
        switch machine.responseEnded() {
        case .close:
            bodyConsumer = nil
            closeAfterFlush(linger: true)
        case .continueReading:
            if !processing {
                armDeadlineForPhase()
                if !inbound.isEmpty { processInbound() }
                if !closed { setReading(inbound.count <= context.limits.maxHeadBytes && !hasPendingOutput) }
            }
        }
    }

    /// A request refused before any handler saw it (malformed, too large, too slow).
    private func refuse(_ error: HTTPParseError) {
        if !exchangeOpen {
            requestStart = MonotonicClock.now()
            currentRequestID = RequestID.makeUUID()
            record = AccessRecord()
            record.requestID = currentRequestID
            record.client = clientAddress
        }
        exchangeOpen = false
        record.authorization = error.description
        bodyConsumer?.connectionAborted(connection: self)
        bodyConsumer = nil
        let status = error.status
        var bytes: [UInt8] = []
        let body = ResponseWriter.messageBody(status.reason)
        ResponseWriter.serialize(
            status: status,
            headers: [("Content-Type", "application/json"), ("X-Request-Id", currentRequestID)],
            contentLength: body.count, keepAlive: false, version: .http11, date: loop.httpDate(), into: &bytes
        )
        bytes.append(contentsOf: body)
        record.status = status.code
        record.bytesSent = bytes.count
        record.durationNanoseconds = MonotonicClock.now() &- requestStart
        context.observer.exchangeFinished(record, loop: loop)
        send(bytes)
        closeAfterFlush(linger: true)
    }

    // MARK: Writing

    /// Queues bytes for the client; writes at once when the socket allows.
    public func send(_ bytes: [UInt8]) {
        guard !closed, !bytes.isEmpty else { return }
        if outboundOffset < outbound.count {
            outbound.append(contentsOf: bytes)
            return
        }
        let written = bytes.withUnsafeBytes { writeSome($0) }
        guard let written else { return }
        if written < bytes.count {
            outbound = Array(bytes[written...])
            outboundOffset = 0
            enableWriting()
        }
    }

    /// Whether bytes are waiting for the client to read them: callers streaming to it should pause.
    public var hasPendingOutput: Bool { outboundOffset < outbound.count }

    /// Writes what the socket takes now. Returns nil if the connection failed and was closed.
    private func writeSome(_ buffer: UnsafeRawBufferPointer) -> Int? {
        if let tls {
            // Before the handshake ends nothing is written: the answer waits in `outbound`.
            if handshaking { return 0 }
            let (count, progress) = tls.write(buffer)
            switch progress {
            case .done, .wantWrite, .wantRead: return count
            case .closed, .failed:
                closeNow()
                return nil
            }
        }
        do {
            return try Syscall.writeAvailable(fd, buffer)
        } catch {
            closeNow()
            return nil
        }
    }

    private func enableWriting() {
        sources.setWriting(true)
        // A client that stops reading must not hold the connection forever.
        if deadlineKind == .none { setDeadline(.activity) }
    }

    private func writable() {
        guard !closed else { return }
        if handshaking {
            continueHandshake()
            return
        }
        let written = outbound.withUnsafeBytes { writeSome(UnsafeRawBufferPointer(rebasing: $0[outboundOffset...])) }
        guard let written else { return }
        if written > 0 && deadlineKind == .activity { setDeadline(.activity) }
        outboundOffset += written
        guard outboundOffset == outbound.count else { return }
        outbound.removeAll(keepingCapacity: false)
        outboundOffset = 0
        sources.setWriting(false)
        if closeWhenFlushed {
            beginLinger()
            return
        }
        onOutputDrained?()
        if deadlineKind == .activity {
            setDeadline(.none)
            armDeadlineForPhase()
        }
        if !processing && machine.isReadingHead {
            if !inbound.isEmpty { processInbound() }
            if !closed { setReading(inbound.count <= context.limits.maxHeadBytes && !hasPendingOutput) }
        }
    }

    // MARK: Closing

    private func closeAfterFlush(linger: Bool) {
        closeWhenFlushed = true
        setReading(true)
        if outboundOffset >= outbound.count { beginLinger() }
    }

    /// Half-closes and discards what the client still sends for a moment, so the answer is read
    /// before the kernel would reset the connection over unread bytes (nginx's lingering close).
    private func beginLinger() {
        guard !lingering, !closed else { return }
        lingering = true
        tls?.shutdown()
        Syscall.shutdownWrite(fd)
        setDeadline(.linger)
    }

    func deadlineExpired() {
        guard !closed else { return }
        if deadlineKind == .handler, let expired = handlerDeadlineExpired {
            handlerDeadlineExpired = nil
            setDeadline(.none)
            expired()
            return
        }
        if lingering || closeWhenFlushed || hasPendingOutput {
            closeNow()
            return
        }
        switch machine.headTimedOut() {
        case .respondWithErrorAndClose(let error):
            refuse(error)
        case .close:
            closeNow()
        default:
            // Reading a body too slowly: the answer cannot be given sensibly any more.
            closeNow()
        }
    }

    /// Closes at once: sources are cancelled and the descriptor is closed once both have stopped.
    public func closeNow() {
        guard !closed else { return }
        closed = true
        setDeadline(.none)
        let consumer = bodyConsumer
        bodyConsumer = nil
        onOutputDrained = nil
        if exchangeOpen { consumer?.connectionAborted(connection: self) }
        loop.unregister(self)
        context.limiter.release()
        sources.cancelAndClose()
    }

    /// Shutdown: closes the connection if it is idle between requests; otherwise its current answer says
    /// `Connection: close`, so a busy keep-alive client cannot hold the drain open with new requests.
    public func drain() {
        draining = true
        if machine.isIdle && !hasPendingOutput { closeNow() }
    }

    private var draining = false
}
