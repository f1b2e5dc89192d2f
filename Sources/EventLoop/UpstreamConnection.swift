internal import CSystem
public import Cryptography
import Dispatch
public import HTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// What the proxy learns from an upstream connection. Called on the connection's loop.
public protocol UpstreamConnectionDelegate: AnyObject {
    func upstreamConnected(_ connection: UpstreamConnection)
    func upstreamHead(_ head: ResponseHead, connection: UpstreamConnection)
    func upstreamBody(_ bytes: UnsafeRawBufferPointer, connection: UpstreamConnection)
    func upstreamEnd(connection: UpstreamConnection)
    /// The connection failed; `beforeAnswer` is true when no byte of the answer had arrived.
    func upstreamFailed(_ reason: String, beforeAnswer: Bool, connection: UpstreamConnection)
    /// Everything written so far has gone to the kernel.
    func upstreamDrained(connection: UpstreamConnection)
}

/// One connection to an upstream, confined to a loop: non-blocking connect, writes with backpressure, and
/// answers parsed by the strict response decoder.
public final class UpstreamConnection: @unchecked Sendable {
    public let loop: EventLoop
    public let address: SocketAddress
    let fd: Int32
    public weak var delegate: (any UpstreamConnectionDelegate)?
    /// True once it has served a request: a failure before any answer byte may then be a stale keep-alive.
    public private(set) var reused = false
    public private(set) var isClosed = false
    private var connected = false
    private var decoder: ResponseDecoder
    private lazy var sources = SocketSources(
        fd: fd, queue: loop.queue, onReadable: { [unowned self] in readable() },
        onWritable: { [unowned self] in writable() }
    )
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var inbound: [UInt8] = []
    private var keepAliveAfterResponse = false
    /// TLS to the upstream, when it is an https:// one: the context and the name to verify.
    private let tlsSettings: (context: TLSClientContext, host: String)?
    private var tls: TLSSession?
    private var handshaking = false

    /// Starts connecting; the delegate hears `upstreamConnected` or `upstreamFailed`.
    public init(
        loop: EventLoop,
        address: SocketAddress,
        limits: HTTPLimits,
        tls: (context: TLSClientContext, host: String)? = nil
    ) throws(SystemError) {
        self.loop = loop
        self.address = address
        self.tlsSettings = tls
        self.decoder = ResponseDecoder(limits: limits)
        let family = address.family
        fd = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(call: "socket", errno: errno) }
        if family != AF_UNIX { Syscall.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
    }

    /// Connects. Must run on the loop, after the delegate is set.
    public func connect() {
        loop.assertOnLoop()
        let result = address.withCSocketAddress { Glibc.connect(fd, $0, $1) }
        let code = result == 0 ? 0 : errno
        if code == 0 {
            loop.queue.async { [self] in if !isClosed { tcpConnected() } }
        } else if code == EINPROGRESS || code == EAGAIN {
            // Writable means connected (or failed: SO_ERROR says which).
            sources.setWriting(true)
        } else {
            let reason = SystemError(call: "connect", errno: code).description
            loop.queue.async { [self] in fail(reason, beforeAnswer: true) }
        }
    }

    /// Prepares for the answer to the request about to be written.
    public func startRequest(isHead: Bool) {
        decoder.expectResponse(toHead: isHead)
    }

    public var hasPendingOutput: Bool { outboundOffset < outbound.count }

    public func send(_ bytes: [UInt8]) {
        guard !isClosed, !bytes.isEmpty else { return }
        if hasPendingOutput || !connected {
            outbound.append(contentsOf: bytes)
            return
        }
        guard let offset = bytes.withUnsafeBytes({ writeNow($0) }) else { return }
        if offset < bytes.count {
            outbound = Array(bytes[offset...])
            outboundOffset = 0
            resumeWriting()
        }
    }

    /// Stops or restarts reading the answer (the client is slow: the upstream waits instead of memory filling).
    public func setReading(_ enabled: Bool) {
        guard connected, !isClosed else { return }
        sources.setReading(enabled)
    }

    /// The TCP connection is up: start TLS, or hand the connection over.
    private func tcpConnected() {
        activateReading()
        if let tlsSettings {
            do {
                tls = try TLSSession(
                    context: tlsSettings.context, fd: fd, host: tlsSettings.host,
                    hostIsIP: SocketAddress.isIPv4(tlsSettings.host) || SocketAddress.isIPv6(tlsSettings.host)
                )
            } catch {
                fail(error.description, beforeAnswer: true)
                return
            }
            handshaking = true
            stepHandshake()
            return
        }
        becameReady()
    }

    private func stepHandshake() {
        guard let tls else { return }
        switch tls.handshake() {
        case .done:
            handshaking = false
            becameReady()
        case .wantRead:
            suspendWriting()
        case .wantWrite:
            resumeWriting()
        case .closed:
            fail("TLS handshake: the upstream closed the connection", beforeAnswer: true)
        case .failed(let reason):
            fail("TLS handshake: \(reason)", beforeAnswer: true)
        }
    }

    private func becameReady() {
        connected = true
        if hasPendingOutput { resumeWriting() } else { suspendWriting() }
        delegate?.upstreamConnected(self)
    }

    private func activateReading() {
        sources.setReading(true)
    }

    private func suspendWriting() {
        sources.setWriting(false)
    }

    private func resumeWriting() {
        sources.setWriting(true)
    }

    private func writable() {
        guard !isClosed else { return }
        if handshaking {
            stepHandshake()
            return
        }
        if !connected {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else {
                fail(SystemError(call: "connect", errno: error).description, beforeAnswer: true)
                return
            }
            tcpConnected()
            return
        }
        guard
            let written = outbound.withUnsafeBytes({ writeNow(UnsafeRawBufferPointer(rebasing: $0[outboundOffset...])) }
            )
        else {
            return
        }
        outboundOffset += written
        if outboundOffset == outbound.count {
            outbound.removeAll(keepingCapacity: false)
            outboundOffset = 0
            suspendWriting()
            delegate?.upstreamDrained(connection: self)
        }
    }

    /// Writes what the socket takes now; nil when the connection failed (and was closed).
    private func writeNow(_ buffer: UnsafeRawBufferPointer) -> Int? {
        if let tls {
            var offset = 0
            while offset < buffer.count {
                let (count, progress) = tls.write(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                offset += count
                switch progress {
                case .done: continue
                case .wantRead, .wantWrite: return offset
                case .closed, .failed:
                    fail("TLS write failed", beforeAnswer: decoder.isAwaitingFirstByte)
                    return nil
                }
            }
            return offset
        }
        do {
            return try Syscall.writeAvailable(fd, buffer)
        } catch {
            fail("write failed: \(error)", beforeAnswer: decoder.isAwaitingFirstByte)
            return nil
        }
    }

    private func readable() {
        guard !isClosed else { return }
        if handshaking {
            stepHandshake()
            return
        }
        if let tls {
            // Decrypted bytes may wait inside OpenSSL with nothing left on the socket: read until it wants more.
            while !isClosed {
                let (count, progress) = tls.read(into: loop.scratch)
                if count > 0 {
                    received(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<count]))
                    continue
                }
                switch progress {
                case .wantRead, .done: return
                case .wantWrite:
                    resumeWriting()
                    return
                case .closed:
                    peerClosed()
                    return
                case .failed(let reason):
                    fail("TLS read failed: \(reason)", beforeAnswer: decoder.isAwaitingFirstByte)
                    return
                }
            }
            return
        }
        let result: IOResult
        do {
            result = try Syscall.read(fd, loop.scratch)
        } catch {
            fail("read failed: \(error)", beforeAnswer: decoder.isAwaitingFirstByte)
            return
        }
        guard case .processed(let count) = result else { return }
        if count == 0 {
            peerClosed()
            return
        }
        received(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<count]))
    }

    private func peerClosed() {
        do {
            if case .end = try decoder.peerClosed() {
                keepAliveAfterResponse = false
                delegate?.upstreamEnd(connection: self)
                close()
                return
            }
            fail("upstream closed the connection", beforeAnswer: decoder.isAwaitingFirstByte)
        } catch {
            fail("upstream closed the connection mid-answer", beforeAnswer: decoder.isAwaitingFirstByte)
        }
    }

    private func received(_ chunk: UnsafeRawBufferPointer) {
        if inbound.isEmpty {
            process(chunk)
        } else {
            inbound.append(contentsOf: chunk)
            let pending = inbound
            inbound = []
            pending.withUnsafeBytes { process($0) }
        }
    }

    private func process(_ buffer: UnsafeRawBufferPointer) {
        var offset = 0
        while !isClosed {
            let event: ResponseDecoder.Event
            let consumed: Int
            do {
                (event, consumed) = try decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
            } catch {
                fail("malformed answer: \(error.description)", beforeAnswer: false)
                return
            }
            let base = offset
            offset += consumed
            switch event {
            case .needMore:
                if offset < buffer.count {
                    inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                }
                return
            case .head(let head):
                if !head.isInformational { keepAliveAfterResponse = head.keepAlive }
                delegate?.upstreamHead(head, connection: self)
            case .body(let range):
                delegate?.upstreamBody(
                    UnsafeRawBufferPointer(rebasing: buffer[(base + range.lowerBound)..<(base + range.upperBound)]),
                    connection: self)
            case .end:
                reused = true
                if offset < buffer.count {
                    // Bytes after a complete answer were never asked for: the connection cannot be trusted.
                    keepAliveAfterResponse = false
                }
                delegate?.upstreamEnd(connection: self)
                return
            }
        }
    }

    /// Whether the connection can carry another request.
    public var isReusable: Bool { !isClosed && keepAliveAfterResponse && decoder.hasEnded && !hasPendingOutput }

    private func fail(_ reason: String, beforeAnswer: Bool) {
        guard !isClosed else { return }
        let delegate = self.delegate
        close()
        delegate?.upstreamFailed(reason, beforeAnswer: beforeAnswer, connection: self)
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        delegate = nil
        tls = nil
        sources.cancelAndClose()
    }
}

/// Idle keep-alive connections to one upstream, owned by one loop.
public final class UpstreamPool: @unchecked Sendable {
    public let loop: EventLoop
    public let address: SocketAddress
    public let maxIdle: Int
    private var idle: [UpstreamConnection] = []
    /// A pool replaced by a reload keeps no connection: those in use close when their exchange ends.
    private var retired = false

    public init(loop: EventLoop, address: SocketAddress, maxIdle: Int = 64) {
        self.loop = loop
        self.address = address
        self.maxIdle = maxIdle
    }

    /// An idle connection, or nil: the caller then opens a new one.
    public func takeIdle() -> UpstreamConnection? {
        loop.assertOnLoop()
        while let connection = idle.popLast() {
            if !connection.isClosed { return connection }
        }
        return nil
    }

    /// Keeps a connection that finished its answer cleanly; closes it otherwise.
    public func giveBack(_ connection: UpstreamConnection) {
        loop.assertOnLoop()
        guard connection.isReusable, idle.count < maxIdle, !retired else {
            connection.close()
            return
        }
        connection.delegate = IdleWatcher.shared
        // An answer to a slow client may have ended with reading paused: an idle connection must hear the
        // upstream close it, and the next exchange must hear its answer.
        connection.setReading(true)
        idle.append(connection)
    }

    /// Closes the idle connections and every one given back from now on. Call on the pool's loop.
    public func retire() {
        loop.assertOnLoop()
        retired = true
        for connection in idle { connection.close() }
        idle = []
    }
}

/// The delegate of idle pooled connections: anything they hear (the upstream closing them) ends them.
final class IdleWatcher: UpstreamConnectionDelegate, @unchecked Sendable {
    static let shared = IdleWatcher()

    func upstreamConnected(_ connection: UpstreamConnection) {}
    func upstreamHead(_ head: ResponseHead, connection: UpstreamConnection) { connection.close() }
    func upstreamBody(_ bytes: UnsafeRawBufferPointer, connection: UpstreamConnection) { connection.close() }
    func upstreamEnd(connection: UpstreamConnection) { connection.close() }
    func upstreamFailed(_ reason: String, beforeAnswer: Bool, connection: UpstreamConnection) {}
    func upstreamDrained(connection: UpstreamConnection) {}
}
