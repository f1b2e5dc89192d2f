import Dispatch
import Encoding
import Endpoints
import EventLoop
import HTTP1
import JWT
import Synchronization
import Time

/// The public listener: path checks, CORS, then the sign-in paths, or a route: authorization, then forwarding.
final class PublicHandler: RequestHandler {
    let routes: RouteTable
    let authorizer: Authorizer
    let proxy: Proxy
    let signIn: SignInService?
    let signOut: SignOutService?
    let metrics: Metrics
    /// nil when `[cors]` allows no origin.
    let cors: CORSPolicy?
    /// Every path the sign-in services answer (sign-in, refresh, sign-out), before any route.
    let signInPaths: [String]
    let trustedProxies: TrustedProxies

    init(
        routes: RouteTable, authorizer: Authorizer, proxy: Proxy, signIn: SignInService?, signOut: SignOutService?,
        metrics: Metrics, cors: CORSPolicy?, trustedProxies: TrustedProxies
    ) {
        self.trustedProxies = trustedProxies
        self.routes = routes
        self.authorizer = authorizer
        self.proxy = proxy
        self.signIn = signIn
        self.signOut = signOut
        self.metrics = metrics
        self.cors = cors
        // The one list of the sign-in service's paths, which the CORS policy reaches as it reaches routes.
        let signInServicePaths =
            signIn.map { service in SignInService.Endpoint.allCases.compactMap(service.path) } ?? []
        self.signInPaths = signInServicePaths + (signOut.map { [$0.path] } ?? [])
    }

    func handle(_ head: RequestHead, connection: ClientConnection) {
        // With no trusted proxy (the default) the client is the peer, and nothing more runs here.
        if !trustedProxies.isEmpty {
            let trusted = trustedProxies
            let peer = connection.peer
            if let client = head.bytes.withUnsafeBytes({ trusted.client(in: $0, fields: head.fields, peer: peer) }) {
                connection.useClientAddress(client.description)
            }
        }
        // The access record's path: made from the head once, when the exchange started.
        let path = connection.record.path
        let isSafe = PathSafety.isSafe(path)
        let route = isSafe ? routes.match(path) : nil
        // Before every other answer: a preflight needs no token, and every answer carries the policy's fields.
        var corsFields: CORSAnswerFields?
        if let cors {
            let reach = isSafe ? CORSReach.of(path: path, route: route, signInPaths: signInPaths) : .answers
            let decision = cors.decide(head, reach: reach)
            switch decision {
            case .untouched:
                break
            case .answer(let fields):
                connection.extraAnswerFields = fields.own
                corsFields = fields
            case .preflight, .refusedPreflight:
                connection.record.route = signInPaths.contains(path) ? path : route?.prefix ?? ""
                Self.answerPreflight(decision, connection: connection)
                return
            }
        }
        guard isSafe else {
            connection.record.authorization = "unsafe path"
            connection.refuse(.unsafePath)
            return
        }
        // The sign-in paths are answered by the gateway itself, before (and instead of) any route.
        if let signIn, let endpoint = signIn.endpoint(for: path) {
            signIn.handle(head, endpoint: endpoint, connection: connection)
            return
        }
        if let signOut, path == signOut.path {
            signOut.handle(head, connection: connection)
            return
        }
        guard let route else {
            connection.record.authorization = "none"
            connection.refuse(.noRoute)
            return
        }
        connection.record.route = route.prefix
        // The exchange takes the body from now on; it waits (bounded) until the request is authorized.
        let exchange = proxy.exchange(for: head, route: route, client: connection, cors: corsFields)
        guard route.auth == .required else {
            connection.record.authorization = "none"
            exchange.proceed(token: nil)
            return
        }
        switch authorizer.authorize(head, route: route) {
        case .decided(let outcome):
            Self.answer(outcome, exchange: exchange, connection: connection, metrics: metrics)
        case .awaitingKeys(let pending):
            let loop = connection.loop
            let metrics = self.metrics
            authorizer.authorize(after: pending, route: route) { outcome in
                loop.execute { Self.answer(outcome, exchange: exchange, connection: connection, metrics: metrics) }
            }
        }
    }

    /// A preflight is answered here, with no token and nothing forwarded.
    private static func answerPreflight(_ decision: CORSDecision, connection: ClientConnection) {
        if case .preflight(let fields) = decision {
            connection.record.authorization = "cors preflight"
            connection.extraAnswerFields = fields
            connection.respond(.noContent, body: [])
        } else {
            connection.record.authorization = "cors origin not allowed"
            connection.extraAnswerFields = CORSAnswerFields.varyOnly.own
            connection.refuse(.preflightFromDisallowedOrigin)
        }
    }

    private static func answer(
        _ outcome: AuthorizationOutcome, exchange: ProxyExchange, connection: ClientConnection, metrics: Metrics
    ) {
        switch outcome {
        case .allowed(let token):
            connection.record.subject = token.subject
            connection.record.authorization = "ok"
            exchange.proceed(token: token)
            return
        case .forbidden(let token, let reason):
            exchange.abandon()
            metrics.count(
                .authorizationFailures,
                Metrics.labels([("reason", reason.split(separator: " ").joined(separator: "_"))]))
            connection.record.subject = token.subject
            connection.record.authorization = reason
            connection.refuse(.forbidden)
        case .rejected(let rejection):
            exchange.abandon()
            metrics.count(.authorizationFailures, Metrics.labels([("reason", rejection.metricReason)]))
            connection.record.authorization = rejection.description
            connection.refuse(.token(rejection))
        }
    }
}

/// Tells whether the gateway can serve: the conditions `/readyz` reports, shared across loops. Those of the signing
/// keys (`signing_keys:<pool>`) are read from the authorizer in force, one per pool of the configuration in force.
package final class Readiness: Sendable {
    private let state = Mutex<[String: String]>([:])
    /// The current generation's authorizer: its pools' key statuses are conditions too.
    private let authorizer = Mutex<Authorizer?>(nil)

    package init() {}

    /// From now on the signing-key conditions are `authorizer`'s pools': a pool a reload removed is no longer
    /// waited for, and one it added is waited for until its own cache loads keys.
    func use(_ authorizer: Authorizer) {
        self.authorizer.withLock { $0 = authorizer }
    }

    /// Marks a condition as unmet, with a reason for `/readyz`.
    package func block(_ condition: String, reason: String) {
        state.withLock { $0[condition] = reason }
    }

    package func clear(_ condition: String) {
        _ = state.withLock { $0.removeValue(forKey: condition) }
    }

    /// The unmet conditions, sorted; empty when ready.
    package var unmet: [(String, String)] {
        var conditions = state.withLock { $0 }
        for pool in authorizer.withLock({ $0 })?.pools ?? [] {
            if let reason = pool.status.reason {
                conditions[JWKSFetcher.readinessCondition(userPoolID: pool.userPoolID)] = reason
            }
        }
        return conditions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    private let clusterState = Mutex<String?>(nil)

    /// With `[cluster]`: "ok" or "degraded", said by `/readyz` whatever its status (the gateway serves either way).
    package var cluster: String? {
        get { clusterState.withLock { $0 } }
        set { clusterState.withLock { $0 = newValue } }
    }
}

/// `/healthz`, `/readyz`, `/metrics` and `POST /revoke` on the admin listener, never on the public one.
final class AdminHandler: RequestHandler {
    let readiness: Readiness
    let metrics: Metrics
    let revocations: Revocations

    init(readiness: Readiness, metrics: Metrics, revocations: Revocations) {
        self.readiness = readiness
        self.metrics = metrics
        self.revocations = revocations
    }

    func handle(_ head: RequestHead, connection: ClientConnection) {
        connection.record.route = "admin"
        connection.record.authorization = "none"
        let method = head.method
        if head.path == "/revoke" {
            revoke(head, connection: connection)
            return
        }
        guard method == "GET" || method == "HEAD" else {
            connection.refuse(.adminMethodNotAllowed)
            return
        }
        switch head.path {
        case "/healthz":
            connection.respond(.ok, headers: [("Content-Type", "text/plain")], body: Array("ok\n".utf8))
        case "/readyz":
            let unmet = readiness.unmet
            let cluster = readiness.cluster.map { ",\"cluster\":\(JSONText.quoted($0))" } ?? ""
            if unmet.isEmpty {
                connection.respond(
                    .ok, headers: [("Content-Type", "application/json")],
                    body: Array("{\"status\":\"ready\"\(cluster)}".utf8)
                )
            } else {
                let reasons = unmet.map { "\(JSONText.quoted($0.0)):\(JSONText.quoted($0.1))" }.joined(separator: ",")
                connection.respond(
                    .serviceUnavailable, headers: [("Content-Type", "application/json")],
                    body: Array("{\"status\":\"not ready\",\"reasons\":{\(reasons)}\(cluster)}".utf8)
                )
            }
        case "/metrics":
            connection.respond(
                .ok, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                body: Array(metrics.render().utf8)
            )
        default:
            connection.refuse(.noRoute)
        }
    }

    /// The most a `/revoke` body may hold: a sub is at most 1 KiB.
    static let maxRevokeBodyBytes = 4096

    /// `POST /revoke {"sub": "…"}`: the operator's sign-out of a user, at the gateway only.
    private func revoke(_ head: RequestHead, connection: ClientConnection) {
        guard head.method == "POST" else {
            answer(.methodNotAllowed, connection: connection)
            return
        }
        if case .length(let length) = head.framing, length > UInt64(Self.maxRevokeBodyBytes) {
            answer(.bodyTooLarge, connection: connection)
            return
        }
        let collector = BodyCollector(limit: Self.maxRevokeBodyBytes) { [self] outcome in
            switch outcome {
            case .tooLarge:
                answer(.bodyTooLarge, connection: connection)
            case .complete(let body):
                switch Self.parseSubject(body) {
                case .failure(let problem):
                    answer(.badRequest(problem.message), connection: connection)
                case .success(let sub):
                    revocations.revoke(sub: sub, now: SystemClock.wallClockSeconds())
                    connection.record.subject = sub
                    answer(.revoked, connection: connection)
                }
            }
        }
        connection.bodyConsumer = collector
        connection.continueIfExpected()
        if head.framing == .none { collector.bodyEnded(connection: connection) }
    }

    private func answer(_ outcome: RevokeOutcome, connection: ClientConnection) {
        connection.record.authorization = outcome.logName
        connection.respond(outcome.status, headers: outcome.headers, body: outcome.body, keepAlive: outcome.keepAlive)
    }

    /// `{"sub": "…"}`: a string a token's `sub` could be (not empty, at most 1 KiB, no control character).
    static func parseSubject(_ body: [UInt8]) -> Result<String, SignInService.BodyProblem> {
        guard let value = try? StrictJSON.parse(body, maxDepth: 4) else {
            return .failure(.init(message: "body is not JSON"))
        }
        guard let object = value.object else { return .failure(.init(message: "body must be a JSON object")) }
        guard let field = object["sub"] else { return .failure(.init(message: "sub is missing")) }
        guard let sub = field.string else { return .failure(.init(message: "sub must be a string")) }
        guard !sub.isEmpty else { return .failure(.init(message: "sub must not be empty")) }
        guard sub.utf8.count <= 1024, !sub.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            return .failure(.init(message: "sub is not a token's sub (at most 1 KiB, no control characters)"))
        }
        return .success(sub)
    }
}

/// The access log and the metrics both see every exchange of the public listeners.
final class ExchangeObservers: ExchangeObserver {
    let observers: [any ExchangeObserver]

    init(_ observers: [any ExchangeObserver]) {
        self.observers = observers
    }

    func exchangeFinished(_ record: AccessRecord, loop: EventLoop) {
        for observer in observers { observer.exchangeFinished(record, loop: loop) }
    }
}
