import Cluster
import Dispatch
import EventLoop
import Foundation
import HTTP1
import HTTPClient
import JWT
package import Logging
import Synchronization
import Time

/// The running gateway: loops, listeners, and the generation of handlers the configuration built.
/// A reload builds a new generation and swaps it in; the loops, listeners and sockets stay.
package final class GatewayServer: @unchecked Sendable {
    package let readiness = Readiness()
    let logger: Logger
    let group: EventLoopGroup
    let environment: [String: String]
    let notifier: SystemdNotifier
    private var watchdog: SystemdWatchdog?
    private var listeners: [Listener] = []
    private let publicLimiter: ConnectionLimiter
    /// The admin listener must answer even when the public side is saturated; it has its own small budget.
    private let adminLimiter = ConnectionLimiter(limit: 64)
    /// Every public connection's handler: it forwards to the current generation's.
    private let publicHandler = ReplaceableHandler()
    let controlPlane: ControlPlaneClient
    let metrics: Metrics
    /// Sign-outs and operators' revocations: the server's, so that every generation (every reload) sees them.
    let revocations = Revocations()
    /// With `[cluster]`: the Redis store, made once by `start` before the first generation (which uses it).
    private(set) var cluster: ClusterStore?
    /// Drops expired revocations every minute (a check never trusts an expired one meanwhile).
    private var revocationSweep: (any DispatchSourceTimer)?
    static let revocationSweepInterval = DispatchTimeInterval.seconds(60)
    /// Reloads run one at a time on this queue; `generation` and `reloadQueue` are only touched there.
    private let reloads = DispatchQueue(label: "authgate.reload")
    private var generation: Generation?
    /// Reloads asked for while one waits for its signing keys; nil when no reload is under way.
    private var reloadQueue: [(config: GatewayConfig, done: @Sendable (String?) -> Void)]?
    /// How long a reload that brings a new user pool waits for its keys before it takes over anyway.
    static let keyWaitLimit = DispatchTimeInterval.seconds(5)

    /// The configuration in force (the one given at start until a reload replaces it).
    package var config: GatewayConfig { reloads.sync { generation?.config ?? initialConfig } }

    package init(config: GatewayConfig, logger: Logger, environment: [String: String]) {
        self.logger = logger
        self.environment = environment
        self.notifier = SystemdNotifier(environment: environment)
        self.group = EventLoopGroup(count: config.server.workers)
        self.publicLimiter = ConnectionLimiter(limit: config.server.maxConnections)
        // The control plane runs on the first loop, as the data path does on all of them.
        controlPlane = ControlPlaneClient(queue: group.loops[0].queue)
        let publicLimiter = self.publicLimiter
        let revocations = self.revocations
        metrics = Metrics(
            loops: group.loops.count, openConnections: { publicLimiter.openConnections },
            heldRevocations: { revocations.count })
        revocations.ttlSeconds = Int(config.cognito.revocationTTL / 1_000_000_000)
        initialConfig = config
    }

    /// The configuration `start` builds the first generation from.
    private let initialConfig: GatewayConfig

    /// Binds every listener (or adopts systemd's) and starts accepting. Throws before accepting anything
    /// if any address cannot be bound, so a half-started gateway never serves.
    package func start() throws(GatewayStartError) {
        let config = initialConfig
        readiness.block("listeners", reason: "listeners are not bound yet")
        let openFiles = raiseOpenFileLimit()
        if let settings = config.cluster {
            cluster = try ClusterWiring.make(
                settings, environment: environment, revocations: revocations, readiness: readiness, metrics: metrics,
                logger: logger)
        }
        let generation = try Generation(config: config, previous: nil, server: self)
        // Every pool's keys are waited for from here: each condition holds until its cache loads keys.
        readiness.use(generation.authorizer)

        let activation: SocketActivation?
        do {
            activation = try SocketActivation.fromEnvironment(environment)
        } catch {
            throw GatewayStartError(code: .socketActivation, description: "socket activation: \(error.description)")
        }
        var bound: [ListeningSocket] = []
        do {
            if let activation {
                bound = activation.publicSockets
            } else {
                for address in config.server.listen { bound.append(try ListeningSocket(binding: address)) }
            }
            var adminSocket = activation?.adminSocket
            if adminSocket == nil, let adminAddress = config.admin.listen {
                adminSocket = try ListeningSocket(binding: adminAddress)
            }
            listeners = bound.map { Listener(socket: $0, context: publicContext(generation)) }
            if let adminSocket {
                let adminContext = ServerContext(
                    kind: .admin,
                    handler: AdminHandler(readiness: readiness, metrics: metrics, revocations: revocations),
                    observer: AccessLog(format: config.log.format),
                    limits: HTTPLimits(maxHeadBytes: 8 * 1024, maxBodyBytes: 64 * 1024),
                    timeouts: ConnectionTimeouts(head: config.server.headerTimeout, idle: config.server.idleTimeout),
                    limiter: adminLimiter
                )
                listeners.append(Listener(socket: adminSocket, context: adminContext))
            }
        } catch {
            if activation == nil { for socket in bound { socket.close() } }
            generation.retire(keepingAuthorization: false)
            throw GatewayStartError(code: .listen, description: error.description)
        }
        reloads.sync { self.generation = generation }
        publicHandler.current = generation.handler
        metrics.use(generation.authorizer)

        let sweep = DispatchTimeInterval.milliseconds(
            Int(max(10, min(500, min(config.server.headerTimeout, config.server.idleTimeout) / 4_000_000)))
        )
        for loop in group.loops { loop.queue.async { loop.startSweeping(every: sweep) } }
        // Logged before the first accept: whoever got an answer can read this line.
        let publicAddresses = listeners.filter { $0.context.kind == .public }.map(\.socket.address)
        logger.info(
            "started",
            metadata: [
                "listen": "\(publicAddresses.joined(separator: ","))",
                "admin": "\(listeners.first { $0.context.kind == .admin }?.socket.address ?? "disabled")",
                "socket_activation": "\(activation != nil)",
                "workers": "\(group.loops.count)",
                "max_connections": "\(config.server.maxConnections)",
                "open_files_limit": "\(openFiles)",
            ]
        )
        for listener in listeners { listener.start(on: group) }
        readiness.clear("listeners")
        generation.startFetchingKeys()
        notifier.ready(status: "serving on \(publicAddresses.joined(separator: ", "))")
        watchdog = SystemdWatchdog(environment: environment, notifier: notifier, loops: group.loops)
        watchdog?.start()
        startRevocationSweep()
        cluster?.start()
    }

    #if AUTHGATE_TEST_HOOKS
        /// Test builds only: blocks the first event loop for good, so that the watchdog's rounds stop completing,
        /// WATCHDOG=1 stops, and systemd kills and restarts the daemon (SystemdManagerTests).
        package func stallEventLoopForTesting() {
            logger.warning("test hook", metadata: ["action": "stalling event loop 0 for good"])
            group.loops[0].queue.async {
                while true { sleep(3600) }
            }
        }
    #endif

    private func startRevocationSweep() {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "authgate.revocations"))
        let revocations = self.revocations
        timer.setEventHandler { revocations.purge(now: SystemClock.wallClockSeconds()) }
        timer.schedule(deadline: .now() + Self.revocationSweepInterval, repeating: Self.revocationSweepInterval)
        timer.resume()
        revocationSweep = timer
    }

    /// The context public connections accepted from now on share.
    private func publicContext(_ generation: Generation) -> ServerContext {
        let config = generation.config
        let server = config.server
        return ServerContext(
            kind: .public, handler: publicHandler,
            observer: ExchangeObservers([AccessLog(format: config.log.format), metrics]),
            limits: HTTPLimits(
                maxHeadBytes: server.maxHeaderBytes, maxTargetBytes: min(8 * 1024, server.maxHeaderBytes),
                maxBodyBytes: server.maxBodyBytes
            ),
            timeouts: ConnectionTimeouts(head: server.headerTimeout, idle: server.idleTimeout),
            limiter: publicLimiter, tls: generation.tls
        )
    }

    // MARK: Reload

    /// Settings a reload cannot change: the sockets, the loops and the log handler are made once.
    static func fixedSettingsChanged(from old: GatewayConfig, to new: GatewayConfig) -> [String] {
        var changed: [String] = []
        if old.server.listen != new.server.listen { changed.append("server.listen") }
        if old.server.workers != new.server.workers { changed.append("server.workers") }
        // The certificate files may change (they are read again); turning TLS on or off may not.
        if (old.server.tls == nil) != (new.server.tls == nil) { changed.append("server.tls") }
        if old.admin != new.admin { changed.append("admin.listen") }
        if old.log != new.log { changed.append("log") }
        if old.cluster != new.cluster { changed.append("cluster") }
        return changed
    }

    /// Replaces routes, upstreams, limits, Cognito and sign-in settings with `config`'s, keeping every open
    /// connection and in-flight request. Refused (the running configuration kept) when a fixed setting changed
    /// or the new one cannot be built (an upstream that does not resolve, an unreadable secret).
    /// `done` gets nil on success, else why it was refused. Reloads take effect in the order asked.
    package func reload(_ config: GatewayConfig, done: @escaping @Sendable (String?) -> Void) {
        reloads.async { [self] in
            // One that waits for its keys holds the next back, or both would replace the same generation.
            guard reloadQueue == nil else {
                reloadQueue?.append((config, done))
                return
            }
            reloadQueue = []
            beginReload(config, done: done)
        }
    }

    /// On `reloads`: builds the next generation, then swaps it in once its keys are held.
    private func beginReload(_ config: GatewayConfig, done: @escaping @Sendable (String?) -> Void) {
        let refusal: String
        if let current = generation {
            let fixed = Self.fixedSettingsChanged(from: current.config, to: config)
            if fixed.isEmpty {
                do {
                    let next = try Generation(config: config, previous: current, server: self)
                    whenKeysHeld(by: next, replacing: current) { [self] in
                        swapIn(next, replacing: current)
                        done(nil)
                        reloadFinished()
                    }
                    return
                } catch {
                    refusal = "\(error)"
                }
            } else {
                refusal = "\(fixed.joined(separator: ", ")) cannot change without a restart"
            }
        } else {
            refusal = "the gateway has not finished starting"
        }
        done(refusal)
        reloadFinished()
    }

    /// New user pools' keys are fetched before their generation answers, so that tokens are not refused with
    /// 503 in between; after `keyWaitLimit` it takes over with whatever it holds. `then` runs once, on
    /// `reloads`, which is never blocked meanwhile.
    private func whenKeysHeld(by next: Generation, replacing current: Generation, then: @escaping () -> Void) {
        guard next.authorizer !== current.authorizer else {
            then()
            return
        }
        next.startFetchingKeys()
        let once = RunOnce(then)
        once.runAfter(Self.keyWaitLimit, on: reloads)
        next.authorizer.whenEveryPoolLoaded { [reloads] in reloads.async { once.run() } }
    }

    /// On `reloads`: the next generation answers from now on; the one it replaces is retired.
    private func swapIn(_ next: Generation, replacing current: Generation) {
        generation = next
        revocations.ttlSeconds = Int(next.config.cognito.revocationTTL / 1_000_000_000)
        publicHandler.current = next.handler
        metrics.use(next.authorizer)
        // /readyz waits from now on for the keys of every pool of `next`, and of no other: a pool it adds whose
        // first fetch is still under way (a reload takes over after `keyWaitLimit`) is not ready until it loads;
        // a pool it removes is no longer waited for, whatever its stopped cache still reports.
        readiness.use(next.authorizer)
        publicLimiter.limit = next.config.server.maxConnections
        for listener in listeners where listener.context.kind == .public {
            listener.context = publicContext(next)
        }
        current.retire(keepingAuthorization: next.authorizer === current.authorizer)
    }

    /// On `reloads`: starts the next reload that waited, if any.
    private func reloadFinished() {
        guard let waiting = reloadQueue, let first = waiting.first else {
            reloadQueue = nil
            return
        }
        reloadQueue = Array(waiting.dropFirst())
        beginReload(first.config, done: first.done)
    }

    /// SIGHUP: reads `path` again and reloads, telling systemd RELOADING=1 before and READY=1 after either way.
    package func reload(configPath path: String) {
        logger.info("reload requested", metadata: ["config": "\(path)"])
        notifier.reloading()
        let config: GatewayConfig
        do {
            config = try ConfigLoader.load(path: path, environment: environment)
        } catch {
            logger.error(
                "reload refused",
                metadata: ["reason": "invalid configuration", "problems": "\(error.problems.map(\.description))"]
            )
            notifier.ready(status: "reload refused: invalid configuration; serving the previous one")
            return
        }
        reload(config) { [self] refusal in
            if let refusal {
                logger.error("reload refused", metadata: ["reason": "\(refusal)"])
                notifier.ready(status: "reload refused: \(refusal); serving the previous one")
            } else {
                logger.info("reloaded", metadata: ["routes": "\(config.routes.count)"])
                notifier.ready(status: "serving; configuration reloaded")
            }
        }
    }

    // MARK: Shutdown

    /// Stops accepting, closes idle connections, waits up to `shutdown_grace` for the rest, then calls `done`.
    package func shutdown(done: @escaping @Sendable () -> Void) {
        let grace = config.server.shutdownGrace
        logger.info("stopping", metadata: ["grace": "\(ConfigUnits.describe(duration: grace))"])
        notifier.stopping()
        readiness.block("shutdown", reason: "shutting down")
        let stopped = DispatchGroup()
        for listener in listeners {
            stopped.enter()
            listener.stop(closeSocket: true) { stopped.leave() }
        }
        let (end, overflow) = SystemClock.monotonicNanoseconds().addingReportingOverflow(grace)
        let deadline = overflow ? UInt64.max : end
        stopped.notify(queue: .global()) { [self] in
            self.drain(until: deadline, done: done)
        }
    }

    /// `deadline` is in `SystemClock.monotonicNanoseconds()`. The first pass logs `draining`: from then on every
    /// connection knows the server is stopping.
    private func drain(until deadline: UInt64, firstPass: Bool = true, done: @escaping @Sendable () -> Void) {
        let remaining = DispatchGroup()
        let open = OpenCount()
        // Past the grace, the tunnels still open close (counted, logged) before the process goes.
        let graceOver = SystemClock.monotonicNanoseconds() >= deadline
        for loop in group.loops {
            remaining.enter()
            loop.queue.async {
                loop.forEachConnection { $0.drain(graceOver: graceOver) }
                open.add(loop.connectionCount)
                loop.flushOutput()
                remaining.leave()
            }
        }
        remaining.notify(queue: .global()) { [self] in
            if firstPass { self.logger.info("draining", metadata: ["open_connections": "\(open.value)"]) }
            if open.value == 0 || graceOver {
                if open.value > 0 {
                    self.logger.warning("drain timed out", metadata: ["open_connections": "\(open.value)"])
                }
                self.logger.info("stopped")
                done()
            } else {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                    self.drain(until: deadline, firstPass: false, done: done)
                }
            }
        }
    }
}

/// An action that runs once, at the first of `run()` and its deadline. Used on one serial queue only.
private final class RunOnce: @unchecked Sendable {
    private var action: (() -> Void)?
    private var deadline: DispatchWorkItem?

    init(_ action: @escaping () -> Void) {
        self.action = action
    }

    /// Runs the action after `interval` on `queue` (the queue `run()` is called on) unless it ran before.
    func runAfter(_ interval: DispatchTimeInterval, on queue: DispatchQueue) {
        // The item and this object hold each other until `run()` lets go of the item.
        let item = DispatchWorkItem { self.run() }
        deadline = item
        queue.asyncAfter(deadline: .now() + interval, execute: item)
    }

    func run() {
        deadline?.cancel()
        deadline = nil
        let pending = action
        action = nil
        pending?()
    }
}

private final class OpenCount: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ value: Int) { count.add(value, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Why the gateway could not start, or a reload could not build its generation.
package struct GatewayStartError: Error, CustomStringConvertible {
    /// A struct, not an enum, so that a new code breaks no caller's switch.
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case socketActivation, listen, tls, upstream, clientSecret, cluster
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The descriptors systemd passed are not usable listening sockets.
        package static let socketActivation = Code(.socketActivation)
        /// An address of server.listen or admin.listen could not be bound.
        package static let listen = Code(.listen)
        /// The listeners' certificate or key could not be loaded.
        package static let tls = Code(.tls)
        /// An upstream host did not resolve, or its CA file could not be loaded.
        package static let upstream = Code(.upstream)
        /// The client secret's file could not be read, or is empty.
        package static let clientSecret = Code(.clientSecret)
        /// `[cluster]`: the Redis password could not be read, or the TLS context made.
        package static let cluster = Code(.cluster)

        package var description: String { base.rawValue }
    }

    package let code: Code
    package let description: String
}
