import Dispatch
import Endpoints
import EventLoop
import Foundation
import Logging

/// How upstream host names become addresses: `getaddrinfo` (the system's resolver: /etc/hosts, DNS), or, when
/// the daemon's environment sets `AUTHGATE_HOSTS_FILE`, only that file — a test and operations hook (a test
/// moves a name from one loopback address to another without touching the machine's resolver). The file is read
/// anew at each resolution, in /etc/hosts syntax ("ADDRESS NAME…", `#` comments); a name it does not list, or
/// a file that cannot be read, is a failed resolution. It comes from the environment only, never from a client
/// or the configuration file, and it names upstreams only.
struct HostResolver: Sendable {
    let hostsFile: String?

    static let hostsFileVariable = "AUTHGATE_HOSTS_FILE"
    /// A hosts file larger than this is refused rather than read.
    static let maxHostsFileBytes = 1 << 20

    init(environment: [String: String]) {
        hostsFile = environment[Self.hostsFileVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Blocks (a file read or `getaddrinfo`): call it at start, on reload or on the refresher's queue.
    func resolve(_ name: String, port: UInt16) -> Result<[SocketAddress], NameResolutionError> {
        guard let hostsFile else { return SocketAddress.resolving(name, port: port) }
        // A regular file only (a FIFO or a device could block or never end), read up to its bound.
        let type = (try? FileManager.default.attributesOfItem(atPath: hostsFile))?[.type] as? FileAttributeType
        guard type == .typeRegular, let handle = FileHandle(forReadingAtPath: hostsFile) else {
            return .failure(NameResolutionError("cannot read \(Self.hostsFileVariable) \(hostsFile) as a regular file"))
        }
        defer { try? handle.close() }
        let data: Data
        do {
            // nil at the end of the file: an empty file, which holds no names.
            data = try handle.read(upToCount: Self.maxHostsFileBytes + 1) ?? Data()
        } catch {
            return .failure(NameResolutionError("cannot read \(Self.hostsFileVariable) \(hostsFile)"))
        }
        guard data.count <= Self.maxHostsFileBytes else {
            return .failure(NameResolutionError("\(Self.hostsFileVariable) \(hostsFile) is larger than 1 MiB"))
        }
        var found: [SocketAddress] = []
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let words = line.prefix { $0 != "#" }.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, let address = IPAddress(String(words[0])),
                words.dropFirst().contains(where: { $0.lowercased() == name.lowercased() })
            else { continue }
            let socketAddress: SocketAddress
            switch address {
            case .v4(let v4): socketAddress = .ipv4(v4, port: port)
            case .v6(let v6): socketAddress = .ipv6(v6, port: port)
            }
            if !found.contains(socketAddress) { found.append(socketAddress) }
        }
        guard !found.isEmpty else {
            return .failure(NameResolutionError("\(name) is not in \(Self.hostsFileVariable) \(hostsFile)"))
        }
        return .success(found)
    }
}

/// Resolves the upstream host names of one generation again every `server.dns_refresh`, on a queue of its own
/// (never a loop). A new answer is handed to each loop's pool as a whole list (`UpstreamPool.useAddresses`): new
/// connections use it and connections to a vanished address drain. A failed resolution keeps the last good
/// addresses and says so in an event line.
final class UpstreamRefresher: @unchecked Sendable {
    /// One upstream host name and the pools (one per loop) that connect to it.
    struct Target {
        let route: String
        let host: String
        let port: UInt16
        let pools: [UpstreamPool]
        /// The last good answer; only touched on `queue`.
        var addresses: [SocketAddress]
    }

    private let queue = DispatchQueue(label: "authgate.dns")
    private var targets: [Target]
    private let resolver: HostResolver
    private let logger: Logger
    private var timer: (any DispatchSourceTimer)?

    init(targets: [Target], resolver: HostResolver, logger: Logger) {
        self.targets = targets
        self.resolver = resolver
        self.logger = logger
    }

    /// Resolves every `interval` from now on, until `stop`; nothing to do without a host name.
    func start(every interval: UInt64) {
        guard !targets.isEmpty else { return }
        queue.async { [self] in
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let period = DispatchTimeInterval.nanoseconds(Int(min(interval, UInt64(Int.max))))
            timer.schedule(deadline: .now() + period, repeating: period, leeway: .milliseconds(100))
            timer.setEventHandler { [weak self] in self?.refresh() }
            timer.resume()
            self.timer = timer
        }
    }

    func stop() {
        queue.async { [self] in
            timer?.cancel()
            timer = nil
        }
    }

    deinit {
        timer?.cancel()
    }

    private func refresh() {
        dispatchPrecondition(condition: .onQueue(queue))
        for index in targets.indices {
            let target = targets[index]
            switch resolver.resolve(target.host, port: target.port) {
            case .success(let addresses):
                // The same addresses in another order are no change (DNS servers rotate their answers).
                guard Set(addresses) != Set(target.addresses) else { continue }
                targets[index].addresses = addresses
                // Told once every loop's pool holds the new list: from the line on, new connections use it.
                let applied = DispatchGroup()
                for pool in target.pools {
                    applied.enter()
                    pool.loop.execute {
                        pool.useAddresses(addresses)
                        applied.leave()
                    }
                }
                let logger = self.logger
                let metadata: Logger.Metadata = [
                    "route": "\(target.route)", "host": "\(target.host)",
                    "from": "\(target.addresses.map(\.description).joined(separator: ","))",
                    "to": "\(addresses.map(\.description).joined(separator: ","))",
                ]
                applied.notify(queue: queue) { logger.notice("upstream addresses changed", metadata: metadata) }
            case .failure(let error):
                logger.warning(
                    "upstream resolution failed",
                    metadata: [
                        "route": "\(target.route)", "host": "\(target.host)", "error": "\(error.description)",
                        "kept": "\(target.addresses.map(\.description).joined(separator: ","))",
                    ])
            }
        }
    }
}
