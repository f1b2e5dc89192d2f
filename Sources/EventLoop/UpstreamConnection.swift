internal import CSystem
package import Cryptography
import Dispatch
package import Endpoints
package import HTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// TLS to an https:// upstream: the client context (CA bundle) and the host the certificate must name.
package struct UpstreamTLS: Sendable {
    package let context: TLSClientContext
    package let serverName: URLHost

    package init(context: TLSClientContext, serverName: URLHost) {
        self.context = context
        self.serverName = serverName
    }
}

/// What the proxy learns from an upstream connection. Called on the connection's loop.
package protocol UpstreamConnectionDelegate: AnyObject {
    func upstreamConnected(_ connection: UpstreamConnection)
    func upstreamHead(_ head: ResponseHead, connection: UpstreamConnection)
    func upstreamBody(_ bytes: UnsafeRawBufferPointer, connection: UpstreamConnection)
    func upstreamEnd(connection: UpstreamConnection)
    /// The connection failed; `beforeAnswer` is true when no byte of the answer had arrived.
    func upstreamFailed(_ reason: String, beforeAnswer: Bool, connection: UpstreamConnection)
    /// Everything written so far has gone to the kernel.
    func upstreamDrained(connection: UpstreamConnection)
}

/// One connection to an upstream, confined to a loop: it carries out what its lifecycle and the strict response
/// decoder decide, over a socket channel (non-blocking connect, TLS, writes with backpressure).
package final class UpstreamConnection: ChannelHandler, @unchecked Sendable {
    package let loop: EventLoop
    package let address: SocketAddress
    private let fd: Int32
    /// Held strongly: the exchange and its upstream hold each other until the exchange ends, when the connection
    /// closes, joins a tunnel or goes back to its pool, each of which lets go of it. (A weak reference cost a side
    /// table for every exchange and an atomic load for every event.)
    package var delegate: (any UpstreamConnectionDelegate)?
    private var lifecycle = UpstreamLifecycle()
    private var decoder: ResponseDecoder
    private var channel: SocketChannel?
    private var inbound: [UInt8] = []
    /// Set once a `101` made the connection a tunnel's end (`lifecycle` is `.tunneling`); let go on close.
    private var tunnel: Tunnel?
    /// TLS to the upstream, when it is an https:// one.
    private let tlsSettings: UpstreamTLS?

    /// Opens the socket; `connect` starts connecting.
    package init(
        loop: EventLoop,
        address: SocketAddress,
        limits: HTTPLimits,
        tls: UpstreamTLS? = nil
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

    /// Whether the request in flight went on a connection that had served answers before: a failure before
    /// any byte of its answer may then be a stale keep-alive.
    package private(set) var reused = false
    package var isClosed: Bool { lifecycle.state == .closed }

    /// Connects. Must run on the loop, after the delegate is set; the delegate hears `upstreamConnected` or
    /// `upstreamFailed`, never before this returns.
    package func connect() {
        loop.assertOnLoop()
        let result = address.withCSocketAddress { Glibc.connect(fd, $0, $1) }
        let code = result == 0 ? 0 : errno
        guard code == 0 || code == EINPROGRESS || code == EAGAIN else {
            Syscall.close(fd)
            failSoon(SystemError(call: "connect", errno: code).description)
            return
        }
        var session: TLSSession?
        if let tlsSettings {
            do {
                session = try TLSSession(
                    context: tlsSettings.context, fd: fd, host: tlsSettings.serverName.description,
                    hostIsIP: tlsSettings.serverName.isIPAddress
                )
            } catch {
                Syscall.close(fd)
                failSoon(error.description)
                return
            }
        }
        do {
            let channel = try SocketChannel(fd: fd, loop: loop, tls: session, connecting: code != 0)
            self.channel = channel
            channel.start(handler: self)
        } catch {
            Syscall.close(fd)
            failSoon(error.description)
        }
    }

    private func failSoon(_ reason: String) {
        loop.runSoon { [self] in fail(reason, beforeAnswer: true) }
    }

    /// Prepares for the answer to the request about to be written; `upgrade`: it asks to switch to WebSocket.
    package func startRequest(isHead: Bool, upgrade: Bool = false) {
        decoder.expectResponse(toHead: isHead, upgrade: upgrade)
        reused = lifecycle.wasReused
        lifecycle.requestStarted()
    }

    package var hasPendingOutput: Bool { channel?.hasPendingOutput ?? false }

    package func send(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { send($0) }
    }

    package func send(_ bytes: UnsafeRawBufferPointer) {
        guard !isClosed else { return }
        channel?.write(bytes)
    }

    /// The answer is a `101`: from now on this connection's bytes are `tunnel`'s. Call from the delegate's
    /// `upstreamHead`; the bytes that followed the head in the same read go to the tunnel next. False when the
    /// connection cannot carry one (closed, or not switched): the caller closes both sides.
    package func joinTunnel(_ tunnel: Tunnel) -> Bool {
        guard lifecycle.state == .tunneling else { return false }
        self.tunnel = tunnel
        delegate = nil
        return true
    }

    /// Stops or restarts reading the answer (the client is slow: the upstream waits instead of memory filling).
    package func setReading(_ enabled: Bool) {
        guard !isClosed else { return }
        channel?.setReading(enabled)
    }

    // MARK: Channel events

    func channelActive() {
        lifecycle.connected()
        delegate?.upstreamConnected(self)
    }

    func channelDrained() {
        if let tunnel {
            tunnel.upstreamDrained()
            return
        }
        delegate?.upstreamDrained(connection: self)
    }

    func channelFailed(_ error: ChannelError) {
        if let tunnel {
            tunnel.failed()
            return
        }
        fail(lifecycle.isConnected ? "\(error)" : "connect: \(error)", beforeAnswer: decoder.isAwaitingFirstByte)
    }

    func channelReadEOF() {
        if let tunnel {
            tunnel.upstreamEnded()
            return
        }
        do {
            if case .end = try decoder.peerClosed() {
                lifecycle.answerEnded(bytesFollowed: true)
                delegate?.upstreamEnd(connection: self)
                close()
                return
            }
            fail("upstream closed the connection", beforeAnswer: decoder.isAwaitingFirstByte)
        } catch {
            fail("upstream closed the connection mid-answer", beforeAnswer: decoder.isAwaitingFirstByte)
        }
    }

    func channelRead(_ chunk: UnsafeRawBufferPointer) {
        if let tunnel {
            tunnel.upstreamBytes(chunk)
            return
        }
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
            case .head(let head) where head.switchesProtocols:
                lifecycle.answerHead(keepAlive: false)
                lifecycle.switchedProtocols()
                // The delegate relays the 101 and joins this connection to a tunnel, or the connection closes.
                delegate?.upstreamHead(head, connection: self)
                guard let tunnel, !isClosed else {
                    close()
                    return
                }
                if offset < buffer.count { tunnel.upstreamBytes(UnsafeRawBufferPointer(rebasing: buffer[offset...])) }
                return
            case .head(let head):
                if !head.isInformational { lifecycle.answerHead(keepAlive: head.keepAlive) }
                delegate?.upstreamHead(head, connection: self)
            case .body(let range):
                delegate?.upstreamBody(
                    UnsafeRawBufferPointer(rebasing: buffer[(base + range.lowerBound)..<(base + range.upperBound)]),
                    connection: self)
            case .end:
                lifecycle.answerEnded(bytesFollowed: offset < buffer.count)
                delegate?.upstreamEnd(connection: self)
                return
            }
        }
    }

    /// Whether the connection can carry another request.
    package var isReusable: Bool { lifecycle.isReusable && decoder.hasEnded && !hasPendingOutput }

    private func fail(_ reason: String, beforeAnswer: Bool) {
        guard !isClosed else { return }
        let delegate = self.delegate
        close()
        delegate?.upstreamFailed(reason, beforeAnswer: beforeAnswer, connection: self)
    }

    package func close() {
        guard !isClosed else { return }
        lifecycle.closed()
        delegate = nil
        tunnel = nil
        channel?.close()
        channel = nil
    }
}

/// Idle keep-alive connections to one upstream, owned by one loop.
package final class UpstreamPool: @unchecked Sendable {
    package let loop: EventLoop
    /// Where new connections go, in turn. The resolver replaces the whole list on the loop (`useAddresses`); it
    /// is never changed in place, and never empty.
    package private(set) var addresses: [SocketAddress]
    private var nextAddress = 0
    /// Whether the resolver ever replaced the list: only then can a connection's address have left it.
    private var addressesReplaced = false
    package let maxIdle: Int
    private var idle: [UpstreamConnection] = []
    /// A pool replaced by a reload keeps no connection: those in use close when their exchange ends.
    private var retired = false

    package init(loop: EventLoop, addresses: [SocketAddress], maxIdle: Int = 64) {
        precondition(!addresses.isEmpty, "an upstream pool needs an address")
        self.loop = loop
        self.addresses = addresses
        self.maxIdle = maxIdle
    }

    /// The address a new connection opens to: each of the resolved addresses in turn.
    package func addressForNewConnection() -> SocketAddress {
        loop.assertOnLoop()
        guard addresses.count > 1 else { return addresses[0] }
        let address = addresses[nextAddress]
        nextAddress = nextAddress + 1 == addresses.count ? 0 : nextAddress + 1
        return address
    }

    /// The upstream's name resolved to `new` (not empty): new connections go there; idle connections to an
    /// address no longer listed close now, and those in use close when their exchange ends instead of being kept.
    package func useAddresses(_ new: [SocketAddress]) {
        loop.assertOnLoop()
        guard !new.isEmpty else { return }
        addresses = new
        addressesReplaced = true
        nextAddress = 0
        idle.removeAll { connection in
            guard !new.contains(connection.address) else { return false }
            connection.close()
            return true
        }
    }

    /// An idle connection, or nil: the caller then opens a new one.
    package func takeIdle() -> UpstreamConnection? {
        loop.assertOnLoop()
        while let connection = idle.popLast() {
            if !connection.isClosed { return connection }
        }
        return nil
    }

    /// Keeps a connection that finished its answer cleanly; closes it otherwise.
    package func giveBack(_ connection: UpstreamConnection) {
        loop.assertOnLoop()
        guard connection.isReusable, idle.count < maxIdle, !retired,
            !addressesReplaced || addresses.contains(connection.address)
        else {
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
    package func retire() {
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
