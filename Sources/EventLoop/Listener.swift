internal import CSystem
import Cryptography
import Dispatch
package import Endpoints
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A bound, listening socket.
package final class ListeningSocket: Sendable {
    package let fd: Int32
    package let address: String
    /// The socket file this process created, removed again on close.
    private let ownedSocketFile: String?

    /// Adopts an already listening descriptor (systemd socket activation).
    package init(adopting fd: Int32, address: String) throws(SystemError) {
        try Syscall.setNonBlocking(fd)
        self.fd = fd
        self.address = address
        self.ownedSocketFile = nil
    }

    package init(binding address: SocketAddress, backlog: Int32 = 4096) throws(SystemError) {
        self.address = address.description
        if case .unix(let path) = address { ownedSocketFile = path } else { ownedSocketFile = nil }
        if case .unix(let path) = address { try Self.removeStaleUnixSocket(path) }
        fd = try Self.bindAndListen(address, backlog: backlog)
    }

    private static func bindAndListen(_ address: SocketAddress, backlog: Int32) throws(SystemError) -> Int32 {
        let family = address.family
        let fd = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(call: "socket", errno: errno) }
        if family != AF_UNIX { Syscall.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1) }
        // "[::]:8080" must not also take IPv4's port: "0.0.0.0:8080" may be listed beside it.
        if family == AF_INET6 { Syscall.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        if address.withCSocketAddress({ Glibc.bind(fd, $0, $1) }) != 0 {
            let code = errno
            Syscall.close(fd)
            throw SystemError(call: "bind", errno: code)
        }
        if listen(fd, backlog) != 0 {
            let code = errno
            Syscall.close(fd)
            throw SystemError(call: "listen", errno: code)
        }
        return fd
    }

    /// A socket file left by a process that is gone is removed; one that still answers is in use.
    private static func removeStaleUnixSocket(_ path: String) throws(SystemError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard (status.st_mode & S_IFMT) == S_IFSOCK else {
            throw SystemError(call: "bind (not a socket)", errno: EEXIST)
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return }
        defer { Syscall.close(probe) }
        let connected = SocketAddress.unix(path).withCSocketAddress { connect(probe, $0, $1) }
        if connected == 0 { throw SystemError(call: "bind", errno: EADDRINUSE) }
        unlink(path)
    }

    package func close() {
        if let ownedSocketFile { unlink(ownedSocketFile) }
        Syscall.close(fd)
    }
}

/// Accepts on one listening socket from every loop: the socket is in each loop's epoll set, so a connection
/// is owned from its first byte by the loop that accepted it.
package final class Listener: @unchecked Sendable {
    package let socket: ListeningSocket
    private let currentContext: Mutex<ServerContext>
    private var acceptors: [Acceptor] = []
    private let pausedAfterDescriptorExhaustion = DispatchTimeInterval.milliseconds(100)
    /// Accepts one wake-up performs before the loop's other sockets get a turn.
    private static let acceptsPerBurst = 64

    package init(socket: ListeningSocket, context: ServerContext) {
        self.socket = socket
        self.currentContext = Mutex(context)
    }

    /// What connections accepted from now on share (a reload's limits and timeouts); open connections keep theirs.
    package var context: ServerContext {
        get { currentContext.withLock { $0 } }
        set { currentContext.withLock { $0 = newValue } }
    }

    /// Starts accepting on every loop. Call once.
    package func start(on group: EventLoopGroup) {
        for loop in group.loops {
            let acceptor = Acceptor(listener: self, loop: loop)
            acceptors.append(acceptor)
            loop.queue.async { acceptor.start() }
        }
    }

    /// Stops accepting. The descriptor is closed once every loop has taken it out of its epoll set.
    package func stop(closeSocket: Bool, then completion: @escaping @Sendable () -> Void = {}) {
        let group = DispatchGroup()
        for acceptor in acceptors {
            group.enter()
            acceptor.loop.queue.async {
                acceptor.stop()
                group.leave()
            }
        }
        let socket = self.socket
        group.notify(queue: .global()) {
            if closeSocket { socket.close() }
            completion()
        }
    }

    /// Accepts until the backlog is empty (the socket is edge-triggered), a burst at a time.
    fileprivate func acceptBurst(_ acceptor: Acceptor) {
        let loop = acceptor.loop
        var address = sockaddr_storage()
        let context = self.context
        for _ in 0..<Self.acceptsPerBurst {
            guard acceptor.isAccepting else { return }
            let result: IOResult
            do {
                result = try Syscall.accept(socket.fd, &address)
            } catch {
                handleAcceptFailure(error, acceptor: acceptor)
                return
            }
            guard case .processed(let fd) = result else { return }
            let clientFD = Int32(fd)
            guard context.limiter.tryAcquire() else {
                // Over max_connections: refuse this one cleanly and at once.
                Syscall.close(clientFD)
                continue
            }
            if address.ss_family != sa_family_t(AF_UNIX) {
                Syscall.setOption(clientFD, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            }
            guard let channel = makeChannel(clientFD, loop: loop, context: context) else {
                Syscall.close(clientFD)
                context.limiter.release()
                continue
            }
            let connection = ClientConnection(
                channel: channel, context: context, peerAddress: peerAddressText(&address),
                peer: peerIPAddress(&address), isSecure: context.tls != nil
            )
            connection.start()
        }
        // More may be waiting, and no new edge will say so.
        loop.runSoon { [self] in acceptBurst(acceptor) }
    }

    private func makeChannel(_ fd: Int32, loop: EventLoop, context: ServerContext) -> SocketChannel? {
        var session: TLSSession?
        if let tls = context.tls {
            guard let made = try? TLSSession(context: tls, fd: fd) else { return nil }
            session = made
        }
        return try? SocketChannel(fd: fd, loop: loop, tls: session, connecting: false)
    }

    private func handleAcceptFailure(_ error: SystemError, acceptor: Acceptor) {
        switch error.errno {
        case EMFILE, ENFILE, ENOBUFS, ENOMEM:
            // Out of descriptors: try again shortly instead of spinning on a failing accept.
            acceptor.loop.queue.asyncAfter(deadline: .now() + pausedAfterDescriptorExhaustion) { [self] in
                acceptBurst(acceptor)
            }
        default:
            // ECONNABORTED and friends concern one connection only: go on with the backlog.
            acceptor.loop.runSoon { [self] in acceptBurst(acceptor) }
        }
    }
}

/// A listening socket's place in one loop's epoll set; only touched on that loop's queue.
private final class Acceptor: Selectable, @unchecked Sendable {
    unowned let listener: Listener
    let loop: EventLoop
    private var registration: Registration?

    init(listener: Listener, loop: EventLoop) {
        self.listener = listener
        self.loop = loop
    }

    var isAccepting: Bool { registration != nil }

    func start() {
        do {
            registration = try loop.readiness.register(listener.socket.fd, owner: self)
        } catch {
            // Only at start, with the process out of memory or descriptors: this loop accepts nothing, others do.
            return
        }
        // Connections may already wait in the backlog.
        listener.acceptBurst(self)
    }

    func stop() {
        if let registration { loop.readiness.deregister(registration) }
        registration = nil
    }

    func handleEvent(_ readiness: Readiness) {
        listener.acceptBurst(self)
    }
}
