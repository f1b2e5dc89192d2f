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

/// `POST /signin` (SPEC.md): sign a new user up (then confirm them) or authenticate an existing one, and
/// return Cognito's tokens. Passwords, tokens and the client secret never reach a log line: the access
/// record gets the outcome only, events get Cognito's error type and message.
final class SignInService: Sendable {
    let settings: SigninSettings
    let userPoolID: String
    let cognito: CognitoClient
    let clientSecret: String?
    let limiter: SignInLimiter
    let logger: Logger
    let metrics: Metrics

    static let maxUsernameLength = 128
    static let maxPasswordLength = 256

    init(
        settings: SigninSettings, userPoolID: String, cognito: CognitoClient, clientSecret: String?, logger: Logger,
        metrics: Metrics, cluster: ClusterStore? = nil
    ) {
        self.settings = settings
        self.userPoolID = userPoolID
        self.cognito = cognito
        self.clientSecret = clientSecret
        self.limiter = SignInLimiter(settings.rateLimit, cluster: cluster, metrics: metrics)
        self.logger = logger
        self.metrics = metrics
    }

    func handle(_ head: RequestHead, connection: ClientConnection) {
        connection.record.route = settings.path
        guard head.method == "POST" else {
            answer(.methodNotAllowed, connection: connection)
            return
        }
        // With [cluster] the limiter answers later (it asks Redis): the body is read meanwhile, and nothing is
        // answered before the limiter has spoken. Without it the limiter answers here and now, as it always did.
        let admission = SignInAdmission { [self] decision in
            switch decision {
            case .rateLimited(let retryAfter):
                answer(.rateLimited(retryAfterSeconds: retryAfter), connection: connection)
            case .bodyTooLarge:
                answer(.bodyTooLarge, connection: connection)
            case .body(let body):
                signIn(body: body, connection: connection)
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

    // MARK: The flow

    private func signIn(body: [UInt8], connection: ClientConnection) {
        let credentials: (username: String, password: String)
        switch Self.parseCredentials(body) {
        case .failure(let problem):
            answer(.badRequest(problem.message), connection: connection)
            return
        case .success(let parsed):
            credentials = parsed
        }
        let loop = connection.loop
        let finish: @Sendable (SignInOutcome) -> Void = { [self] outcome in
            loop.execute { self.answer(outcome, connection: connection) }
        }
        let secretHash = clientSecret.map {
            SecretHash.compute(username: credentials.username, clientID: settings.clientID, clientSecret: $0)
        }
        guard settings.signUp else {
            authenticate(credentials, secretHash: secretHash, isNew: false, finish: finish)
            return
        }
        cognito.signUp(
            clientID: settings.clientID, username: credentials.username, password: credentials.password,
            secretHash: secretHash
        ) { [self] result in
            switch result {
            case .success(let signedUp):
                guard settings.autoConfirm, !signedUp.userConfirmed else {
                    authenticate(credentials, secretHash: secretHash, isNew: true, finish: finish)
                    return
                }
                cognito.adminConfirmSignUp(userPoolID: userPoolID, username: credentials.username) { [self] confirmed in
                    switch confirmed {
                    case .success:
                        authenticate(credentials, secretHash: secretHash, isNew: true, finish: finish)
                    case .failure(let error):
                        logger.error("signin confirm failed", metadata: ["error": "\(error)"])
                        finish(.unavailable("confirm: \(error)"))
                    }
                }
            case .failure(let error) where error.code == .usernameExists:
                authenticate(credentials, secretHash: secretHash, isNew: false, finish: finish)
            case .failure(let error):
                finish(Self.signUpFailure(error, logger: logger))
            }
        }
    }

    private func authenticate(
        _ credentials: (username: String, password: String), secretHash: String?, isNew: Bool,
        finish: @escaping @Sendable (SignInOutcome) -> Void
    ) {
        cognito.authenticate(
            userPoolID: settings.authFlow == .admin ? userPoolID : nil, clientID: settings.clientID,
            username: credentials.username, password: credentials.password, secretHash: secretHash
        ) { [logger] result in
            switch result {
            case .success(.authenticated(let tokens)):
                guard let subject = Self.subject(ofIDToken: tokens.idToken) else {
                    finish(.unavailable("the IdToken has no readable sub"))
                    return
                }
                finish(.authenticated(tokens, subject: subject, isNew: isNew))
            case .success(.challenge(let name)):
                finish(.challenge(name))
            case .failure(let error):
                finish(Self.authenticationFailure(error, logger: logger))
            }
        }
    }

    /// SignUp errors that are the caller's (the password policy, a malformed username) become 400; the rest,
    /// which are the gateway's or Cognito's (secret hash, unknown client, credentials), become 502.
    static func signUpFailure(_ error: CognitoError, logger: Logger) -> SignInOutcome {
        switch error.code {
        case .invalidPassword, .invalidParameter, .userLambdaValidation:
            return .signUpRefused(error.message)
        case .tooManyRequests, .limitExceeded:
            return .throttled
        default:
            logger.error("signin sign-up failed", metadata: ["error": "\(error)"])
            return .unavailable("sign-up: \(error)")
        }
    }

    /// Authentication errors: a wrong password or an unknown user look the same to the caller (no user
    /// enumeration); the rest are the gateway's or Cognito's.
    static func authenticationFailure(_ error: CognitoError, logger: Logger) -> SignInOutcome {
        switch error.code {
        case .notAuthorized, .userNotFound:
            return .wrongCredentials
        case .userNotConfirmed:
            return .notConfirmed
        case .passwordResetRequired:
            return .challenge("PASSWORD_RESET_REQUIRED")
        case .tooManyRequests, .limitExceeded:
            return .throttled
        default:
            logger.error("signin authentication failed", metadata: ["error": "\(error)"])
            return .unavailable("authenticate: \(error)")
        }
    }

    /// Every answer of /signin goes through `response(for:)`, the one table of its statuses and bodies.
    private func answer(_ outcome: SignInOutcome, connection: ClientConnection) {
        let response = Self.response(for: outcome)
        if case .authenticated(_, let subject, _) = outcome { connection.record.subject = subject }
        note(response.result, connection, detail: response.detail)
        connection.respond(
            response.status, headers: response.headers, body: response.body, keepAlive: response.keepAlive)
    }

    private func note(_ result: SignInResult, _ connection: ClientConnection, detail: String? = nil) {
        connection.record.authorization = "signin: \(result.rawValue)" + (detail.map { " (\($0))" } ?? "")
        metrics.count(.signins, Metrics.labels([("result", result.rawValue)]))
    }

    // MARK: Request and answer bodies

    struct BodyProblem: Error, Equatable {
        let message: String
    }

    /// `{"username": "...", "password": "..."}`: both strings, non-empty, within Cognito's lengths.
    static func parseCredentials(_ body: [UInt8]) -> Result<(username: String, password: String), BodyProblem> {
        guard let value = try? StrictJSON.parse(body, maxDepth: 4) else {
            return .failure(BodyProblem(message: "body is not JSON"))
        }
        guard let object = value.object else { return .failure(BodyProblem(message: "body must be a JSON object")) }
        func field(_ name: String, maxLength: Int) -> Result<String, BodyProblem> {
            guard let value = object[name] else { return .failure(BodyProblem(message: "\(name) is missing")) }
            guard let text = value.string else { return .failure(BodyProblem(message: "\(name) must be a string")) }
            guard !text.isEmpty else { return .failure(BodyProblem(message: "\(name) must not be empty")) }
            guard text.count <= maxLength else {
                return .failure(BodyProblem(message: "\(name) is longer than \(maxLength) characters"))
            }
            return .success(text)
        }
        return field("username", maxLength: maxUsernameLength).flatMap { username in
            field("password", maxLength: maxPasswordLength).map { (username, $0) }
        }
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
