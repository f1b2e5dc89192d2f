import AWS
import Cryptography
import Endpoints
import EventLoop
import HTTP1
import HTTPClient
import JWT
import Logging
import Synchronization

/// What one configuration builds for the public listener: the proxy and its pools, the authorizer and its
/// JWKS cache, the sign-in service, and the handler over them.
final class Generation: Sendable {
    let config: GatewayConfig
    let proxy: Proxy
    let authorizer: Authorizer
    let handler: PublicHandler
    /// The listeners' certificate, read from its files for every generation (a reload picks up a renewed one).
    let tls: TLSServerContext?
    private let group: EventLoopGroup

    /// Builds everything or nothing. The authorizer (and its JWKS cache and token cache) is kept from
    /// `previous` when the [cognito] settings did not change.
    init(config: GatewayConfig, previous: Generation?, server: GatewayServer) throws(GatewayStartError) {
        self.config = config
        self.group = server.group
        let logger = server.logger
        if let settings = config.server.tls {
            do {
                tls = try TLSServerContext(certFile: settings.certFile, keyFile: settings.keyFile)
            } catch {
                throw GatewayStartError(code: .tls, description: "server.tls: \(error.description)")
            }
        } else {
            tls = nil
        }
        do {
            proxy = try Proxy(
                routes: config.routes, group: server.group,
                settings: ProxySettings(
                    upstreamTimeout: config.server.upstreamTimeout, responseLimits: HTTPLimits(maxBodyBytes: 0),
                    metrics: server.metrics,
                    tunnels: TunnelSettings(
                        clockSkew: Double(config.cognito.clockSkew) / 1e9, revocations: server.revocations)
                ),
                resolver: HostResolver(environment: server.environment), dnsRefresh: config.server.dnsRefresh,
                logger: logger
            )
        } catch {
            throw GatewayStartError(code: .upstream, description: error.description)
        }
        if let previous, previous.config.cognito == config.cognito {
            authorizer = previous.authorizer
        } else {
            authorizer = Self.makeAuthorizer(config.cognito, server: server)
        }
        let signIn = try Self.makeSignIn(config, server: server)
        handler = PublicHandler(
            routes: RouteTable(config.routes), authorizer: authorizer, proxy: proxy, signIn: signIn,
            signOut: Self.makeSignOut(config, authorizer: authorizer, server: server), metrics: server.metrics,
            cors: CORSPolicy(config.cors), trustedProxies: config.server.trustedProxies
        )
    }

    /// One JWKS cache per pool, each with its own refresh, re-fetch and metrics label; one token cache for all
    /// (its entries know their pool).
    private static func makeAuthorizer(_ cognito: CognitoSettings, server: GatewayServer) -> Authorizer {
        let tokenCache = VerifiedTokenCache(capacity: cognito.tokenCacheSize)
        let logger = server.logger
        let metrics = server.metrics
        let settings = JWKSCache.Settings(
            refreshSeconds: Double(cognito.jwksRefresh) / 1e9,
            minRefetchSeconds: Double(cognito.jwksMinRefetchInterval) / 1e9
        )
        let pools = cognito.allPools.enumerated().map { index, pool in
            let source = JWKSFetcher.Source(pool: index, userPoolID: pool.userPoolID, url: pool.jwksURL)
            let status = KeyStatus()
            let jwks = JWKSCache(
                settings: settings, fetch: JWKSFetcher(client: server.controlPlane, url: pool.jwksURL).fetch,
                observer: { event in
                    JWKSFetcher.report(
                        event, source: source, logger: logger, status: status, cache: tokenCache, metrics: metrics)
                }
            )
            return PoolKeys(userPoolID: pool.userPoolID, jwks: jwks, status: status)
        }
        let clockSkew = Double(cognito.clockSkew) / 1e9
        return Authorizer(
            verifier: TokenVerifier(pools: cognito.allPools.map { TokenRules($0, clockSkew: clockSkew) }),
            pools: pools, cache: tokenCache, revocations: server.revocations)
    }

    /// The sign-out path, unless `signout_path = ""`: GlobalSignOut is unsigned, so it needs no AWS credentials.
    /// A token is signed out at its own pool's endpoint (one client per pool).
    private static func makeSignOut(_ config: GatewayConfig, authorizer: Authorizer, server: GatewayServer)
        -> SignOutService?
    {
        let path = config.signin.signOutPath
        guard !path.isEmpty else { return nil }
        var clients: [String: CognitoClient] = [:]
        for pool in config.cognito.allPools {
            clients[pool.userPoolID] = cognitoClient(
                config, endpoint: pool.endpointURL, region: pool.region, credentials: nil, server: server)
        }
        return SignOutService(
            path: path, authorizer: authorizer, cognito: clients, revocations: server.revocations,
            logger: server.logger, metrics: server.metrics)
    }

    /// The /signin service, when enabled: its Cognito client, the AWS credential chain for the signed calls,
    /// the client secret from the sources of SPEC.md "Secrets" (read again on every reload).
    private static func makeSignIn(_ config: GatewayConfig, server: GatewayServer) throws(GatewayStartError)
        -> SignInService?
    {
        let settings = config.signin
        guard settings.enabled else { return nil }
        let secret: ClientSecret.Found?
        do {
            secret = try ClientSecret.read(file: config.cognito.clientSecretFile, environment: server.environment)
        } catch {
            throw GatewayStartError(code: .clientSecret, description: error.description)
        }
        let needsSigning = settings.authFlow == .admin || (settings.signUp && settings.autoConfirm)
        let credentials =
            needsSigning ? CredentialProvider(environment: server.environment, client: server.controlPlane) : nil
        let logger = server.logger
        let metrics = server.metrics
        let cognito = cognitoClient(
            config, endpoint: config.cognito.endpointURL, region: config.cognito.region, credentials: credentials,
            server: server)
        logger.info(
            "signin enabled",
            metadata: [
                "path": "\(settings.path)", "refresh_path": "\(settings.refreshPath ?? "off")",
                "client_id": "\(settings.clientID)", "auth_flow": "\(settings.authFlow.rawValue)",
                "client_secret": "\(secret?.source ?? "none")",
            ]
        )
        return SignInService(
            settings: settings, userPoolID: config.cognito.userPoolID, cognito: cognito, clientSecret: secret?.value,
            deadlineBudget: config.server.upstreamTimeout, logger: logger, metrics: metrics, cluster: server.cluster
        )
    }

    /// The Cognito client of the sign-in and sign-out paths: every retry logged and counted.
    private static func cognitoClient(
        _ config: GatewayConfig, endpoint: HTTPURL, region: String, credentials: CredentialProvider?,
        server: GatewayServer
    ) -> CognitoClient {
        let logger = server.logger
        let metrics = server.metrics
        return CognitoClient(
            endpoint: endpoint, region: region, http: server.controlPlane,
            credentials: credentials,
            retryPolicy: signInRetryPolicy(upstreamTimeout: config.server.upstreamTimeout),
            onRetry: { retry in
                logger.warning(
                    "cognito retry",
                    metadata: [
                        "operation": "\(retry.operation)", "attempt": "\(retry.attempt)",
                        "error": "\(retry.error.kind)", "backoff_ms": "\(retry.backoffNanoseconds / 1_000_000)",
                    ])
                metrics.count(.cognitoRetries, Metrics.labels([("operation", retry.operation)]))
            }
        )
    }

    /// Standard mode, with attempts of a third of `upstream_timeout` (at most the usual 10 s): the sign-in paths
    /// answer within `upstream_timeout`, and a call's three attempts then fit in it.
    static func signInRetryPolicy(upstreamTimeout: UInt64) -> RetryPolicy {
        RetryPolicy(attemptTimeout: min(RetryPolicy.standard.attemptTimeout, upstreamTimeout / 3))
    }

    /// Fetches every pool's signing keys, unless this generation took over running caches.
    func startFetchingKeys() {
        for pool in authorizer.pools where !pool.jwks.isStarted { pool.jwks.start() }
    }

    /// This generation was replaced: its upstream pools keep no idle connection, its JWKS caches stop refreshing
    /// (unless the next generation kept it). In-flight exchanges finish on what they hold.
    func retire(keepingAuthorization: Bool) {
        if !keepingAuthorization { for pool in authorizer.pools { pool.jwks.stop() } }
        proxy.retire()
    }
}

/// The public listener's handler: the current generation's, replaced by a reload between two requests.
final class ReplaceableHandler: RequestHandler {
    private let handler = Mutex<(any RequestHandler)?>(nil)

    var current: any RequestHandler {
        get { handler.withLock { $0! } }
        set { handler.withLock { $0 = newValue } }
    }

    func handle(_ head: RequestHead, connection: ClientConnection) {
        current.handle(head, connection: connection)
    }
}
