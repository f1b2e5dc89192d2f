import AWS
import Cluster
import Encoding
import EventLoop
import Foundation
import HTTP1
import JWT
import Logging
import Synchronization
import Time

/// The sign-in paths (SPEC.md "POST /signin", "POST /refresh"), answered by the gateway itself before any route.
/// They share one front door: POST only, one rate limit per client address (the same bucket whichever path is
/// asked), the body limit and its collection, a deadline for the flow, and one table of answers
/// (`Refusals.swift`). Each path then has its flow (`SignInFlow.swift`, `RefreshFlow.swift`). Passwords, tokens
/// and the client secret never reach a log line: the access record gets the outcome only, events get Cognito's
/// error type and message, with the caller's secrets cut out.
final class SignInService: Sendable {
    /// The paths this service answers; the raw value names them in the access log.
    enum Endpoint: String, Sendable, CaseIterable {
        case signIn = "signin"
        case refresh
    }

    let settings: SigninSettings
    let userPoolID: String
    let cognito: CognitoClient
    let clientSecret: String?
    let limiter: SignInLimiter
    let logger: Logger
    let metrics: Metrics
    /// From a complete body to the answer, every Cognito attempt included: `server.upstream_timeout`, since
    /// Cognito is these paths' upstream.
    let deadlineBudget: UInt64

    init(
        settings: SigninSettings, userPoolID: String, cognito: CognitoClient, clientSecret: String?,
        deadlineBudget: UInt64, logger: Logger, metrics: Metrics, cluster: ClusterStore? = nil
    ) {
        self.settings = settings
        self.userPoolID = userPoolID
        self.cognito = cognito
        self.clientSecret = clientSecret
        self.limiter = SignInLimiter(settings.rateLimit, cluster: cluster, metrics: metrics)
        self.deadlineBudget = deadlineBudget
        self.logger = logger
        self.metrics = metrics
    }

    /// The endpoint `path` names, if any (asked on every request: no array is made for it).
    func endpoint(for path: String) -> Endpoint? {
        Self.endpoints.first { self.path(of: $0) == path }
    }

    private static let endpoints = Endpoint.allCases

    /// The one place that knows the sign-in paths; nil for a path turned off.
    func path(of endpoint: Endpoint) -> String? {
        switch endpoint {
        case .signIn: return settings.path
        case .refresh: return settings.refreshPath
        }
    }

    /// The flows' pool for the Admin* calls: the admin flow names it, `user_password` does not.
    var authenticationPoolID: String? { settings.authFlow == .admin ? userPoolID : nil }

    func handle(_ head: RequestHead, endpoint: Endpoint, connection: ClientConnection) {
        connection.record.route = path(of: endpoint) ?? ""
        guard head.method == "POST" else {
            answer(.methodNotAllowed, endpoint: endpoint, connection: connection)
            return
        }
        // With [cluster] the limiter answers later (it asks Redis): the body is read meanwhile, and nothing is
        // answered before the limiter has spoken. Without it the limiter answers here and now, as it always did.
        let admission = SignInAdmission { [self] decision in
            switch decision {
            case .rateLimited(let retryAfter):
                answer(.rateLimited(retryAfterSeconds: retryAfter), endpoint: endpoint, connection: connection)
            case .bodyTooLarge:
                answer(.bodyTooLarge, endpoint: endpoint, connection: connection)
            case .body(let body):
                run(endpoint, body: body, connection: connection)
            }
        }
        limiter.take(connection.clientAddress, on: connection.loop, admission.limiterAnswered)
        if admission.isDecided { return }
        if case .length(let length) = head.framing, length > UInt64(settings.maxBodyBytes) {
            admission.bodyEnded(.tooLarge)
            return
        }
        let collector = BodyCollector(limit: settings.maxBodyBytes, done: admission.bodyEnded)
        connection.bodyConsumer = collector
        connection.continueIfExpected()
        if head.framing == .none { collector.bodyEnded(connection: connection) }
    }

    /// Starts `endpoint`'s flow; its outcome is answered on the connection's loop.
    private func run(_ endpoint: Endpoint, body: [UInt8], connection: ClientConnection) {
        let deadline = SystemClock.monotonicNanoseconds() &+ deadlineBudget
        let loop = connection.loop
        let finish: @Sendable (SignInOutcome) -> Void = { [self] outcome in
            loop.execute { self.answer(outcome, endpoint: endpoint, connection: connection) }
        }
        switch endpoint {
        case .signIn: signIn(body: body, deadline: deadline, finish: finish)
        case .refresh: refresh(body: body, deadline: deadline, finish: finish)
        }
    }

    /// Every answer of the sign-in paths goes through `response(for:)`, the one table of their statuses and bodies.
    private func answer(_ outcome: SignInOutcome, endpoint: Endpoint, connection: ClientConnection) {
        let response = Self.response(for: outcome)
        switch outcome {
        case .authenticated(_, let subject, _), .refreshed(_, let subject): connection.record.subject = subject
        default: break
        }
        connection.record.authorization =
            "\(endpoint.rawValue): \(response.result.rawValue)" + (response.detail.map { " (\($0))" } ?? "")
        let family: Metrics.Family = endpoint == .signIn ? .signins : .refreshes
        metrics.count(family, Metrics.labels([("result", response.result.rawValue)]))
        connection.respond(
            response.status, headers: response.headers, body: response.body, keepAlive: response.keepAlive)
    }

    /// The `sub` of an ID token Cognito just issued over the control plane; read, not verified.
    static func subject(ofIDToken token: String) -> String? {
        guard let subject = UnverifiedToken.payload(Array(token.utf8))?["sub"]?.string, !subject.isEmpty else {
            return nil
        }
        return subject
    }
}

/// Gathers a small request body, refusing it as soon as it passes `limit`.
final class BodyCollector: RequestBodyConsumer {
    enum Outcome {
        case complete([UInt8])
        case tooLarge
    }

    private let limit: Int
    private var bytes: [UInt8] = []
    private var finished = false
    private let done: (Outcome) -> Void

    init(limit: Int, done: @escaping (Outcome) -> Void) {
        self.limit = limit
        self.done = done
    }

    func bodyBytes(_ slice: UnsafeRawBufferPointer, connection: ClientConnection) {
        guard !finished else { return }
        guard bytes.count + slice.count <= limit else {
            finished = true
            bytes = []
            done(.tooLarge)
            return
        }
        bytes.append(contentsOf: slice)
    }

    func bodyEnded(connection: ClientConnection) {
        guard !finished else { return }
        finished = true
        done(.complete(bytes))
    }

    func connectionAborted(connection: ClientConnection) {
        finished = true
        bytes = []
    }
}

/// Attempts per client address: a token bucket holding up to `count`, refilled at `count` per `period`.
/// The table is bounded: full buckets are dropped when it fills (at most once a second), and past that new
/// addresses are refused rather than let a flood of addresses reset everyone's limits.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    private struct Table {
        var buckets: [String: Bucket] = [:]
        var lastPrune: UInt64?
    }

    private let capacity: Double
    private let perNanosecond: Double
    private let table = Mutex(Table())
    let maxAddresses: Int
    /// A full table is swept at most this often: a flood of new addresses must not buy a sweep each.
    static let pruneInterval: UInt64 = 1_000_000_000

    init(_ limit: RateLimit, maxAddresses: Int = 100_000) {
        capacity = Double(limit.count)
        perNanosecond = Double(limit.count) / Double(limit.period)
        self.maxAddresses = maxAddresses
    }

    /// Takes one attempt for `address`: nil when allowed, else the whole seconds to wait.
    func take(_ address: String, now: UInt64) -> Int? {
        table.withLock { table in
            if table.buckets[address] == nil && table.buckets.count >= maxAddresses {
                if table.lastPrune.map({ now &- $0 >= Self.pruneInterval }) ?? true {
                    table.lastPrune = now
                    table.buckets = table.buckets.filter { refilled($0.value, now: now).tokens < capacity }
                }
                if table.buckets.count >= maxAddresses { return 1 }
            }
            var bucket = refilled(table.buckets[address] ?? Bucket(tokens: capacity, updated: now), now: now)
            guard bucket.tokens >= 1 else {
                table.buckets[address] = bucket
                return max(1, Int(((1 - bucket.tokens) / perNanosecond / 1e9).rounded(.up)))
            }
            bucket.tokens -= 1
            table.buckets[address] = bucket
            return nil
        }
    }

    private func refilled(_ bucket: Bucket, now: UInt64) -> Bucket {
        let elapsed = Double(now &- bucket.updated)
        return Bucket(tokens: min(capacity, bucket.tokens + elapsed * perNanosecond), updated: now)
    }
}
