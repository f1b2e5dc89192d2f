package import Cryptography
package import Dispatch
package import Endpoints

#if canImport(Glibc)
    import Glibc
#endif

/// One connection to a Redis server, confined to a serial queue of its own (as libcurl's multi handle is):
/// plain TCP, a unix socket, or TLS through the gateway's OpenSSL sessions. Commands are pipelined; replies
/// come back in order, each to its command's completion, each within its own budget. A round-trip over budget,
/// a reply that is not RESP, or any I/O failure closes the connection and fails everything pending: the owner
/// reconnects. Replies no command waits for (pub/sub messages) go to `onPush`.
///
/// Everything runs on `queue`; `onPush` and `onClose` are called there. The descriptor is closed only after
/// both of its Dispatch sources were cancelled (the rule libdispatch and Foundation's curl client learned).
package final class RedisConnection: @unchecked Sendable {
    // @unchecked: every mutable field is touched on `queue` only (checked where entered).

    package typealias Completion = (Result<RedisReply, RedisError>) -> Void

    private enum State {
        case idle
        case connecting
        case handshakingTLS
        case open
        case closed
    }

    private enum Transport {
        case plain
        case tls(TLSSession)
    }

    private struct Pending {
        let id: UInt64
        let completion: Completion
    }

    package let queue: DispatchQueue
    private let url: RedisURL
    private let tlsContext: TLSClientContext?
    private var state = State.idle
    private var fd: Int32 = -1
    private var transport = Transport.plain
    private var readSource: (any DispatchSourceRead)?
    private var writeSource: (any DispatchSourceWrite)?
    private var writeSourceRunning = false
    private var outbound: [UInt8] = []
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var nextID: UInt64 = 0
    private let reader = ReplyReader()
    /// What each read lands in before the reader takes it.
    private var readBuffer = [UInt8](repeating: 0, count: 16 * 1024)
    private var whenOpen: ((RedisError?) -> Void)?
    /// Replies that answer no command: messages of a subscribed connection.
    package var onPush: ((RedisReply) -> Void)?
    /// Called once, when the connection closes for any reason but `close()`.
    package var onClose: ((RedisError) -> Void)?
    /// On a subscribed connection, every `message` array is a push, not a reply.
    package var isSubscriber = false

    package init(url: RedisURL, tls: TLSClientContext?, queue: DispatchQueue) {
        self.url = url
        self.tlsContext = tls
        self.queue = queue
    }

    deinit {
        // Dropped open: a suspended source must be resumed before it is released; the cancel handlers close fd.
        if let writeSource {
            if !writeSourceRunning { writeSource.resume() }
            writeSource.cancel()
        }
        readSource?.cancel()
    }

    /// Connects (and, for `rediss://`, completes the TLS handshake) within `budgetNanoseconds`; `done` gets nil
    /// once commands may be sent. Host names are resolved here, on the connection's own queue.
    package func open(budgetNanoseconds: UInt64, _ done: @escaping (RedisError?) -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard case .idle = state else {
            done(RedisError(.closed, "the connection was used before"))
            return
        }
        whenOpen = done
        state = .connecting
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: budgetNanoseconds))) { [weak self] in
            guard let self, self.whenOpen != nil else { return }
            self.fail(RedisError(.timeout, "no connection to \(self.url) within the budget"))
        }
        do throws(RedisError) {
            fd = try RedisSocket.connect(url.address)
        } catch {
            fail(error)
            return
        }
        makeSources()
    }

    /// Sends `command`; `completion` runs on `queue` with the reply, or the error that ended the connection,
    /// or a timeout once `budgetNanoseconds` passed (which also closes the connection: its later replies
    /// would answer the wrong commands).
    package func send(_ command: RedisCommand, budgetNanoseconds: UInt64, _ completion: @escaping Completion) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard case .open = state else {
            completion(.failure(RedisError(.closed, "not connected")))
            return
        }
        nextID &+= 1
        let id = nextID
        pending.append(Pending(id: id, completion: completion))
        command.encode(into: &outbound)
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: budgetNanoseconds))) { [weak self] in
            guard let self, self.pending[self.pendingHead...].contains(where: { $0.id == id }) else { return }
            self.fail(RedisError(.timeout, "\(command.name): no reply within the budget"))
        }
        flush()
    }

    /// Commands sent and not answered yet.
    package var waiting: Int { pending.count - pendingHead }

    /// Closes without calling `onClose`; pending completions get a `.closed` error.
    package func close() {
        dispatchPrecondition(condition: .onQueue(queue))
        onClose = nil
        fail(RedisError(.closed, "closed"))
    }

    // MARK: Socket

    private func makeSources() {
        let fd = self.fd
        let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        let write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        // The descriptor is closed once both sources are gone, by whichever cancel handler runs last.
        let remaining = SourceCount()
        let release = { if remaining.release() { _ = Glibc.close(fd) } }
        read.setCancelHandler(handler: release)
        write.setCancelHandler(handler: release)
        read.setEventHandler { [weak self] in self?.ready() }
        write.setEventHandler { [weak self] in self?.ready() }
        readSource = read
        writeSource = write
        read.resume()
        // The connect completes when the socket turns writable.
        write.resume()
        writeSourceRunning = true
    }

    /// Every readiness event, read or write, comes here: the state says what to do with it.
    private func ready() {
        switch state {
        case .connecting: finishConnect()
        case .handshakingTLS: handshake()
        case .open:
            flush()
            readAvailable()
        case .idle, .closed: return
        }
    }

    private func finishConnect() {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return }
        if error == EINPROGRESS || error == EALREADY { return }
        guard error == 0 else {
            fail(RedisError(.connect, "\(url): \(String(cString: strerror(error)))"))
            return
        }
        // A socket that is not connected yet reports no error either: ask the kernel for the peer.
        var peer = sockaddr_storage()
        var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let connected = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &peerLength) == 0 }
        }
        guard connected else { return }
        if let tlsContext, case .tcp(let host, _) = url.address {
            do {
                transport = .tls(
                    try TLSSession(
                        context: tlsContext, fd: fd, host: host.description,
                        hostIsIP: host.isIPAddress))
            } catch {
                fail(RedisError(.tls, error.description))
                return
            }
            state = .handshakingTLS
            handshake()
            return
        }
        becomeOpen()
    }

    private func handshake() {
        guard case .tls(let session) = transport else { return }
        switch session.handshake() {
        case .done: becomeOpen()
        case .wantRead: setWriteInterest(false)
        case .wantWrite: setWriteInterest(true)
        case .closed: fail(RedisError(.tls, "\(url): the server closed the connection during the TLS handshake"))
        case .failed(let reason): fail(RedisError(.tls, "\(url): \(reason)"))
        }
    }

    private func becomeOpen() {
        state = .open
        setWriteInterest(false)
        let done = whenOpen
        whenOpen = nil
        done?(nil)
        readAvailable()
    }

    private func setWriteInterest(_ wanted: Bool) {
        guard let writeSource, wanted != writeSourceRunning else { return }
        writeSourceRunning = wanted
        if wanted { writeSource.resume() } else { writeSource.suspend() }
    }

    // MARK: Bytes

    private enum Moved {
        case bytes(Int)
        case wouldBlock
        case closed
        case failed(String)
    }

    private func transportWrite(_ buffer: UnsafeRawBufferPointer) -> Moved {
        switch transport {
        case .plain:
            while true {
                let written = Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
                if written >= 0 { return .bytes(written) }
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
                return .failed(String(cString: strerror(errno)))
            }
        case .tls(let session):
            let (count, progress) = session.write(buffer)
            return Self.moved(count, progress)
        }
    }

    private func transportRead(_ buffer: UnsafeMutableRawBufferPointer) -> Moved {
        switch transport {
        case .plain:
            while true {
                let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
                if count > 0 { return .bytes(count) }
                if count == 0 { return .closed }
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
                return .failed(String(cString: strerror(errno)))
            }
        case .tls(let session):
            let (count, progress) = session.read(into: buffer)
            return Self.moved(count, progress)
        }
    }

    private static func moved(_ count: Int, _ progress: TLSSession.Progress) -> Moved {
        switch progress {
        case .done: return .bytes(count)
        // A renegotiating peer is not expected from Redis; either way the sources will call again.
        case .wantRead, .wantWrite: return .wouldBlock
        case .closed: return .closed
        case .failed(let reason): return .failed(reason)
        }
    }

    private func flush() {
        guard case .open = state else { return }
        var sent = 0
        while sent < outbound.count {
            let moved = outbound.withUnsafeBytes { transportWrite(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
            switch moved {
            case .bytes(let count): sent += count
            case .wouldBlock:
                outbound.removeFirst(sent)
                setWriteInterest(true)
                return
            case .closed:
                fail(RedisError(.closed, "\(url): the server closed the connection"))
                return
            case .failed(let reason):
                fail(RedisError(.closed, "\(url): \(reason)"))
                return
            }
        }
        outbound.removeAll(keepingCapacity: outbound.count < 64 * 1024)
        setWriteInterest(false)
    }

    private func readAvailable() {
        while case .open = state {
            let moved = readBuffer.withUnsafeMutableBytes { transportRead($0) }
            switch moved {
            case .bytes(let count):
                let fed = readBuffer.withUnsafeBytes { bytes in
                    Result { () throws(RedisError) in
                        try reader.feed(UnsafeRawBufferPointer(rebasing: bytes[..<count]))
                    }
                }
                do throws(RedisError) {
                    try fed.get()
                    while let reply = try reader.next() {
                        deliver(reply)
                        guard case .open = state else { return }
                    }
                } catch {
                    fail(error)
                    return
                }
            case .wouldBlock: return
            case .closed:
                fail(RedisError(.closed, "\(url): the server closed the connection"))
                return
            case .failed(let reason):
                fail(RedisError(.closed, "\(url): \(reason)"))
                return
            }
        }
    }

    private func deliver(_ reply: RedisReply) {
        if isSubscriber, let elements = reply.elements, elements.first?.text == "message" {
            onPush?(reply)
            return
        }
        guard pendingHead < pending.count else {
            fail(RedisError(.protocolViolation, "\(url): a reply (\(reply)) that no command asked for"))
            return
        }
        let answered = pending[pendingHead]
        pendingHead += 1
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        } else if pendingHead >= 1024 && pendingHead * 2 >= pending.count {
            // A pipeline that never drains (sign-ins arriving as fast as they are answered) must not grow forever.
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        answered.completion(.success(reply))
    }

    /// Ends the connection: the sources go (the descriptor with them), every waiting completion gets `error`.
    private func fail(_ error: RedisError) {
        if case .closed = state { return }
        state = .closed
        if case .tls(let session) = transport { session.shutdown() }
        if let writeSource {
            // A suspended source must be resumed before it is cancelled and released.
            if !writeSourceRunning { writeSource.resume() }
            writeSource.cancel()
        }
        readSource?.cancel()
        if readSource == nil && fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
        readSource = nil
        writeSource = nil
        outbound = []
        let waiting = pending[pendingHead...]
        pending = []
        pendingHead = 0
        let opening = whenOpen
        whenOpen = nil
        opening?(error)
        for entry in waiting { entry.completion(.failure(error)) }
        let closed = onClose
        onClose = nil
        onPush = nil
        closed?(error)
    }
}

/// The two sources of one descriptor; the last to be cancelled closes it.
private final class SourceCount: @unchecked Sendable {
    // Cancel handlers run on the connection's serial queue.
    private var count = 2

    func release() -> Bool {
        count -= 1
        return count == 0
    }
}
