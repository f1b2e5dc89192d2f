import AWS
import Dispatch
public import EventLoop
import Foundation
import HTTP1
import HTTPClient
import JWT
public import Logging

/// The running gateway: loops, listeners, handlers. Built from a validated configuration.
public final class GatewayServer: @unchecked Sendable {
    public let config: GatewayConfig
    public let readiness = Readiness()
    let logger: Logger
    let group: EventLoopGroup
    private var listeners: [Listener] = []
    private let publicLimiter: ConnectionLimiter
    /// The admin listener must answer even when the public side is saturated; it has its own small budget.
    private let adminLimiter = ConnectionLimiter(limit: 64)

    let controlPlane: ControlPlaneClient
    let jwks: JWKSCache
    let authorizer: Authorizer
    let environment: [String: String]

    public init(config: GatewayConfig, logger: Logger, environment: [String: String]) {
        self.config = config
        self.logger = logger
        self.environment = environment
        self.group = EventLoopGroup(count: config.server.workers)
        self.publicLimiter = ConnectionLimiter(limit: config.server.maxConnections)
        // The control plane runs on the first loop, as the data path does on all of them.
        controlPlane = ControlPlaneClient(queue: group.loops[0].queue)
        let cognito = config.cognito
        let tokenCache = VerifiedTokenCache(capacity: cognito.tokenCacheSize)
        let readiness = self.readiness
        jwks = JWKSCache(
            settings: JWKSCache.Settings(
                refreshSeconds: Double(cognito.jwksRefresh) / 1e9,
                minRefetchSeconds: Double(cognito.jwksMinRefetchInterval) / 1e9
            ),
            fetch: JWKSFetcher(client: controlPlane, url: cognito.jwksURL).fetch,
            observer: { event in
                JWKSFetcher.report(event, url: cognito.jwksURL, logger: logger, readiness: readiness, cache: tokenCache)
            }
        )
        authorizer = Authorizer(verifier: TokenVerifier(rules: TokenRules(cognito)), jwks: jwks, cache: tokenCache)
    }

    /// Binds every listener (or adopts inherited ones) and starts accepting. Throws before accepting anything
    /// if any address cannot be bound, so a half-started gateway never serves.
    public func start(inheritedSockets: [ListeningSocket]? = nil) throws(GatewayStartError) {
        readiness.block("listeners", reason: "listeners are not bound yet")
        readiness.block("signing_keys", reason: "the JWKS has not been fetched yet")
        let openFiles = raiseOpenFileLimit()
        let server = config.server
        let limits = HTTPLimits(
            maxHeadBytes: server.maxHeaderBytes,
            maxTargetBytes: min(8 * 1024, server.maxHeaderBytes),
            maxBodyBytes: server.maxBodyBytes
        )
        let timeouts = ConnectionTimeouts(head: server.headerTimeout, idle: server.idleTimeout)
        let accessLog = AccessLog(format: config.log.format)
        let proxy: Proxy
        do {
            proxy = try Proxy(
                routes: config.routes, group: group,
                settings: ProxySettings(upstreamTimeout: server.upstreamTimeout, responseLimits: HTTPLimits(maxBodyBytes: 0)),
                logger: logger
            )
        } catch {
            throw GatewayStartError(description: error.description)
        }
        let signIn = try makeSignIn()

        var bound: [ListeningSocket] = []
        do {
            if let inheritedSockets {
                bound = inheritedSockets
            } else {
                for address in server.listen { bound.append(try ListeningSocket(binding: address)) }
            }
            var adminSocket: ListeningSocket?
            if let adminAddress = config.admin.listen { adminSocket = try ListeningSocket(binding: adminAddress) }

            let publicContext = ServerContext(
                name: "public", handler: PublicHandler(routes: RouteTable(config.routes), authorizer: authorizer, proxy: proxy, signIn: signIn),
                observer: accessLog, limits: limits, timeouts: timeouts,
                limiter: publicLimiter
            )
            listeners = bound.map { Listener(socket: $0, context: publicContext) }
            if let adminSocket {
                let adminContext = ServerContext(
                    name: "admin", handler: AdminHandler(readiness: readiness), observer: accessLog,
                    limits: HTTPLimits(maxHeadBytes: 8 * 1024, maxBodyBytes: 64 * 1024), timeouts: timeouts,
                    limiter: adminLimiter
                )
                listeners.append(Listener(socket: adminSocket, context: adminContext))
            }
        } catch {
            for socket in bound where inheritedSockets == nil { socket.close() }
            throw GatewayStartError(description: error.description)
        }

        let sweep = DispatchTimeInterval.milliseconds(
            Int(max(10, min(500, min(server.headerTimeout, server.idleTimeout) / 4_000_000)))
        )
        for loop in group.loops { loop.queue.async { loop.startSweeping(every: sweep) } }
        for listener in listeners { listener.start(on: group) }
        readiness.clear("listeners")
        jwks.start()
        logger.info(
            "started",
            metadata: [
                "listen": "\(listeners.filter { $0.context.name == "public" }.map(\.socket.address).joined(separator: ","))",
                "admin": "\(config.admin.listen?.description ?? "disabled")",
                "workers": "\(group.loops.count)",
                "max_connections": "\(server.maxConnections)",
                "open_files_limit": "\(openFiles)",
            ]
        )
    }

    /// The /signin service, when enabled: its Cognito client, the AWS credential chain for the signed calls, the
    /// client secret from the sources of SPEC.md "Secrets".
    private func makeSignIn() throws(GatewayStartError) -> SignInService? {
        let settings = config.signin
        guard settings.enabled else { return nil }
        let secret: ClientSecret.Found?
        do {
            secret = try ClientSecret.read(file: config.cognito.clientSecretFile, environment: environment)
        } catch {
            throw GatewayStartError(description: error.description)
        }
        let needsSigning = settings.authFlow == .admin || (settings.signUp && settings.autoConfirm)
        let credentials = needsSigning ? CredentialProvider(environment: environment, client: controlPlane) : nil
        let cognito = CognitoClient(
            endpoint: config.cognito.endpointURL, region: config.cognito.region, http: controlPlane, credentials: credentials
        )
        logger.info(
            "signin enabled",
            metadata: [
                "path": "\(settings.path)", "client_id": "\(settings.clientID)", "auth_flow": "\(settings.authFlow.rawValue)",
                "client_secret": "\(secret?.source ?? "none")",
            ]
        )
        return SignInService(
            settings: settings, userPoolID: config.cognito.userPoolID, cognito: cognito, clientSecret: secret?.value,
            logger: logger
        )
    }

    /// Stops accepting, closes idle connections, waits up to `shutdown_grace` for the rest, then calls `done`.
    public func shutdown(done: @escaping @Sendable () -> Void) {
        logger.info("stopping", metadata: ["grace": "\(ConfigUnits.describe(duration: config.server.shutdownGrace))"])
        readiness.block("shutdown", reason: "shutting down")
        let stopped = DispatchGroup()
        for listener in listeners {
            stopped.enter()
            listener.stop(closeSocket: true) { stopped.leave() }
        }
        let deadline = DispatchTime.now() + .nanoseconds(Int(min(config.server.shutdownGrace, UInt64(Int.max))))
        stopped.notify(queue: .global()) { [self] in
            self.drain(until: deadline, done: done)
        }
    }

    private func drain(until deadline: DispatchTime, done: @escaping @Sendable () -> Void) {
        let remaining = DispatchGroup()
        let open = OpenCount()
        for loop in group.loops {
            remaining.enter()
            loop.queue.async {
                loop.forEachConnection { $0.closeIfIdle() }
                open.add(loop.connectionCount)
                loop.flushOutput()
                remaining.leave()
            }
        }
        remaining.notify(queue: .global()) { [self] in
            if open.value == 0 || DispatchTime.now() >= deadline {
                if open.value > 0 { self.logger.warning("drain timed out", metadata: ["open_connections": "\(open.value)"]) }
                self.logger.info("stopped")
                done()
            } else {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                    self.drain(until: deadline, done: done)
                }
            }
        }
    }
}

import Synchronization

private final class OpenCount: Sendable {
    private let count = Atomic<Int>(0)
    func add(_ value: Int) { count.add(value, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Why the gateway could not start (a listener not bound, an upstream not resolved).
public struct GatewayStartError: Error, CustomStringConvertible {
    public let description: String
}
