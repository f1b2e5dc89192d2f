import Dispatch
import EventLoop
import Foundation
import Time

#if canImport(Glibc)
    import Glibc
#endif

/// sd_notify(3) without libsystemd: datagrams to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
/// namespace). Without the variable every call does nothing, so the daemon runs the same outside systemd.
final class SystemdNotifier: Sendable {
    private let socketAddress: [UInt8]?

    init(environment: [String: String]) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty, path.utf8.count < 108,
            path.hasPrefix("/") || path.hasPrefix("@")
        else {
            socketAddress = nil
            return
        }
        var bytes = Array(path.utf8)
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
        socketAddress = bytes
    }

    var isEnabled: Bool { socketAddress != nil }

    /// Sends `state` (newline-separated `KEY=value` assignments). Returns whether the datagram went out.
    @discardableResult
    func notify(_ state: String) -> Bool {
        guard let socketAddress else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (index, byte) in socketAddress.enumerated() { path[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + socketAddress.count)
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { addressPointer in
                payload.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), addressPointer, length)
                }
            }
        }
        return sent == payload.count
    }

    func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }

    /// RELOADING=1 with the CLOCK_MONOTONIC time systemd (Type=notify-reload) expects beside it.
    func reloading() {
        let microseconds = SystemClock.monotonicNanoseconds() / 1000
        notify("RELOADING=1\nMONOTONIC_USEC=\(microseconds)\nSTATUS=reloading the configuration")
    }

    func stopping() { notify("STOPPING=1\nSTATUS=draining connections") }

    func status(_ text: String) { notify("STATUS=\(text)") }
}

/// Sends WATCHDOG=1 at half of `$WATCHDOG_USEC`, and only once every event loop has run a ping since the
/// previous one: a stalled loop stops the keep-alives and systemd restarts the daemon.
final class SystemdWatchdog: @unchecked Sendable {
    private let notifier: SystemdNotifier
    private let loops: [EventLoop]
    private let interval: DispatchTimeInterval
    private let queue = DispatchQueue(label: "authgate.watchdog")
    private var timer: (any DispatchSourceTimer)?
    private var roundOpen = false

    /// nil unless systemd asked for a watchdog for this very process.
    init?(environment: [String: String], notifier: SystemdNotifier, loops: [EventLoop]) {
        guard notifier.isEnabled, let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text),
            microseconds > 0
        else {
            return nil
        }
        if let pid = environment["WATCHDOG_PID"], pid != String(getpid()) { return nil }
        self.notifier = notifier
        self.loops = loops
        self.interval = .microseconds(Int(min(microseconds / 2, UInt64(Int.max))))
    }

    func start() {
        queue.async { [self] in
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now(), repeating: interval)
            timer.setEventHandler { [self] in tick() }
            timer.resume()
            self.timer = timer
        }
    }

    private func tick() {
        // A round that has not finished means a loop has not run its ping: send nothing.
        guard !roundOpen else { return }
        roundOpen = true
        let round = DispatchGroup()
        for loop in loops {
            round.enter()
            loop.queue.async { round.leave() }
        }
        round.notify(queue: queue) { [self] in
            roundOpen = false
            notifier.notify("WATCHDOG=1")
        }
    }
}

/// Listening sockets handed over by systemd (sd_listen_fds(3)): `LISTEN_PID` must be this process,
/// `LISTEN_FDS` counts descriptors from 3, `LISTEN_FDNAMES` names them. A descriptor named `admin`
/// becomes the admin listener; the others replace `server.listen`.
struct SocketActivation: Sendable {
    let publicSockets: [ListeningSocket]
    let adminSocket: ListeningSocket?

    struct Failure: Error, CustomStringConvertible {
        enum Code {
            /// LISTEN_FDS is not a count of descriptors.
            case invalidCount
            /// A descriptor is not a listening socket, or cannot be used as one.
            case unusableDescriptor
            /// Two descriptors are named admin, or none is left for the public listeners.
            case misnamedDescriptors
        }

        let code: Code
        let description: String
    }

    static let firstDescriptor: Int32 = 3

    /// nil when systemd passed nothing to this process. The variables are removed so that no child inherits them.
    static func fromEnvironment(_ environment: [String: String]) throws(Failure) -> SocketActivation? {
        guard let pidText = environment["LISTEN_PID"], let countText = environment["LISTEN_FDS"] else { return nil }
        defer { for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) } }
        guard pidText == String(getpid()) else { return nil }
        guard let count = Int32(countText), count > 0, count < 1024 else {
            throw Failure(code: .invalidCount, description: "LISTEN_FDS=\(countText) is not a number of descriptors")
        }
        let names =
            environment["LISTEN_FDNAMES"].map {
                $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            } ?? []
        var publicSockets: [ListeningSocket] = []
        var adminSocket: ListeningSocket?
        for offset in 0..<count {
            let fd = firstDescriptor + offset
            var accepting: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting == 1 else {
                throw Failure(
                    code: .unusableDescriptor, description: "descriptor \(fd) from systemd is not a listening socket")
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let name = Int(offset) < names.count ? names[Int(offset)] : ""
            let socket: ListeningSocket
            do {
                socket = try ListeningSocket(
                    adopting: fd, address: "\(describe(fd)) (fd \(fd)\(name.isEmpty ? "" : " \(name)"))")
            } catch {
                throw Failure(code: .unusableDescriptor, description: "descriptor \(fd) from systemd: \(error)")
            }
            if name == "admin" {
                guard adminSocket == nil else {
                    throw Failure(code: .misnamedDescriptors, description: "two descriptors are named admin")
                }
                adminSocket = socket
            } else {
                publicSockets.append(socket)
            }
        }
        guard !publicSockets.isEmpty else {
            throw Failure(
                code: .misnamedDescriptors, description: "systemd passed only an admin socket, no public one")
        }
        return SocketActivation(publicSockets: publicSockets, adminSocket: adminSocket)
    }

    /// The local address of a socket, for logs.
    static func describe(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard ok == 0 else { return "unknown" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        switch Int32(storage.ss_family) {
        case AF_UNIX:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { unixAddress in
                    withUnsafeBytes(of: unixAddress.pointee.sun_path) { bytes in
                        "unix:" + String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                    }
                }
            }
        default:
            let found = withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getnameinfo(
                        $0, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
                        NI_NUMERICHOST | NI_NUMERICSERV)
                }
            }
            guard found == 0 else { return "unknown" }
            let hostText = cStringText(host)
            return hostText.contains(":")
                ? "[\(hostText)]:\(cStringText(service))" : "\(hostText):\(cStringText(service))"
        }
    }
}
