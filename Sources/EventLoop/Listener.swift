internal import CSystem
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A bound, listening socket.
public final class ListeningSocket: Sendable {
    public let fd: Int32
    public let address: String
    /// The socket file this process created, removed again on close.
    private let ownedSocketFile: String?

    /// Adopts an already listening descriptor (systemd socket activation).
    public init(adopting fd: Int32, address: String) throws(SystemError) {
        try Syscall.setNonBlocking(fd)
        self.fd = fd
        self.address = address
        self.ownedSocketFile = nil
    }

    public init(binding address: SocketAddress, backlog: Int32 = 4096) throws(SystemError) {
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

    public func close() {
        if let ownedSocketFile { unlink(ownedSocketFile) }
        Syscall.close(fd)
    }
}

/// Accepts on one listening socket from every loop: each loop has its own read source on the shared
/// descriptor, so a connection is owned from its first byte by the loop that accepted it.
public final class Listener: @unchecked Sendable {
    public let socket: ListeningSocket
    private let currentContext: Mutex<ServerContext>
    private var sources: [(EventLoop, AcceptSource)] = []
    private let pausedAfterDescriptorExhaustion = DispatchTimeInterval.milliseconds(100)

    public init(socket: ListeningSocket, context: ServerContext) {
        self.socket = socket
        self.currentContext = Mutex(context)
    }

    /// What connections accepted from now on share (a reload's limits and timeouts); open connections keep theirs.
    public var context: ServerContext {
        get { currentContext.withLock { $0 } }
        set { currentContext.withLock { $0 = newValue } }
    }

    /// Starts accepting on every loop. Call once.
    public func start(on group: EventLoopGroup) {
        for loop in group.loops {
            let source = AcceptSource(DispatchSource.makeReadSource(fileDescriptor: socket.fd, queue: loop.queue))
            source.source.setEventHandler { [unowned self] in
                self.acceptBurst(on: loop, source: source)
            }
            sources.append((loop, source))
            source.source.resume()
        }
    }

    /// Stops accepting. The descriptor is closed once every loop's source is cancelled.
    public func stop(closeSocket: Bool, then completion: @escaping @Sendable () -> Void = {}) {
        let group = DispatchGroup()
        for (loop, source) in sources {
            group.enter()
            loop.queue.async {
                source.source.setCancelHandler { group.leave() }
                source.source.cancel()
            }
        }
        let socket = self.socket
        group.notify(queue: .global()) {
            if closeSocket { socket.close() }
            completion()
        }
    }

    private func acceptBurst(on loop: EventLoop, source: AcceptSource) {
        var address = sockaddr_storage()
        let context = self.context
        // A bounded burst keeps one busy listener from starving the loop's other work.
        for _ in 0..<64 {
            let result: IOResult
            do {
                result = try Syscall.accept(socket.fd, &address)
            } catch {
                handleAcceptFailure(error, loop: loop, source: source)
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
            let connection = ClientConnection(
                fd: clientFD, loop: loop, context: context, clientAddress: peerAddressText(&address)
            )
            connection.start()
        }
    }

    private func handleAcceptFailure(_ error: SystemError, loop: EventLoop, source: AcceptSource) {
        switch error.errno {
        case EMFILE, ENFILE, ENOBUFS, ENOMEM:
            // Out of descriptors: pause this loop's accepting briefly instead of spinning on a failing accept.
            source.source.suspend()
            loop.queue.asyncAfter(deadline: .now() + pausedAfterDescriptorExhaustion) {
                source.source.resume()
            }
        default:
            // ECONNABORTED and friends concern one connection only.
            break
        }
    }
}

/// A loop's read source on a listening socket; only touched on that loop's queue.
final class AcceptSource: @unchecked Sendable {
    let source: any DispatchSourceRead

    init(_ source: any DispatchSourceRead) {
        self.source = source
    }
}
