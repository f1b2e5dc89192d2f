import AWS
import EventLoop
import HTTP1
import JWT
import Logging
import Time

/// `POST /signout` (SPEC.md): the bearer access token, checked as any route's token (but for token_use), goes
/// to Cognito's GlobalSignOut, which ends the user's refresh tokens; then the gateway refuses every token of its
/// `sub` issued in this second or before, for `revocation_ttl`. Its answers are in Refusals.swift. A token of any
/// configured pool is accepted and signed out at its own pool's endpoint (GlobalSignOut takes the pool from the
/// token, in the pool's region).
///
/// Each token signs out at most once in practice: once revoked, it is refused here before Cognito is called.
final class SignOutService: Sendable {
    let path: String
    let authorizer: Authorizer
    /// One client per pool, in the authorizer's order (made from it): a verified token's `pool` picks it.
    let cognito: [CognitoClient]
    let revocations: Revocations
    let logger: Logger
    let metrics: Metrics

    /// `clients` has the client of every pool of `authorizer`, by user pool id: they are put in the authorizer's
    /// order here, so that no caller has to keep two lists in step.
    init(
        path: String, authorizer: Authorizer, cognito clients: [String: CognitoClient], revocations: Revocations,
        logger: Logger, metrics: Metrics
    ) {
        self.path = path
        self.authorizer = authorizer
        cognito = authorizer.pools.map { pool in
            guard let client = clients[pool.userPoolID] else {
                preconditionFailure("no Cognito client for the pool \(pool.userPoolID)")
            }
            return client
        }
        self.revocations = revocations
        self.logger = logger
        self.metrics = metrics
    }

    /// A body, if any, is not read: the connection drops it, as for any answer given on the head.
    func handle(_ head: RequestHead, connection: ClientConnection) {
        connection.record.route = path
        guard head.method == "POST" else {
            answer(.methodNotAllowed, connection: connection)
            return
        }
        let loop = connection.loop
        authorizer.authorizeSignOut(head) { [self] result in
            switch result {
            case .failure(let rejection):
                loop.execute { self.answer(.invalidToken(rejection), connection: connection) }
            case .success(let token):
                // Where the authorizer found the token it just accepted: this cannot fail, but never hangs.
                guard case .success(let range) = Authorizer.bearerToken(head) else {
                    loop.execute { self.answer(.invalidToken(.missing), connection: connection) }
                    return
                }
                signOut(token, accessToken: head.string(range)) { outcome in
                    loop.execute { self.answer(outcome, subject: token.subject, connection: connection) }
                }
            }
        }
    }

    private func signOut(
        _ token: VerifiedToken, accessToken: String, finish: @escaping @Sendable (SignOutOutcome) -> Void
    ) {
        cognito[token.pool].globalSignOut(accessToken: accessToken) { [self] result in
            let outcome = Self.outcome(of: result, logger: logger)
            switch outcome {
            case .signedOut, .refusedByCognito:
                // The second Cognito answered in: a token it issued before the sign-out has an iat no later.
                revocations.revoke(sub: token.subject, now: SystemClock.wallClockSeconds())
            default:
                break
            }
            finish(outcome)
        }
    }

    /// GlobalSignOut's answer. NotAuthorizedException means the token is already signed out (a retry whose
    /// first answer was lost), or its user disabled: the gateway refuses it from now on too, agreeing with the
    /// 401. Any other failure revokes nothing, and the client may try again. Cognito's message is never logged:
    /// it may quote the token it was sent (moto's does).
    static func outcome(of result: Result<Void, CognitoError>, logger: Logger) -> SignOutOutcome {
        let error: CognitoError
        switch result {
        case .success: return .signedOut
        case .failure(let failure): error = failure
        }
        let cause = error.exceptionName ?? error.description
        switch error.code {
        case .notAuthorized:
            return .refusedByCognito(cause)
        case .tooManyRequests, .limitExceeded:
            return .throttled
        default:
            logger.error("signout failed", metadata: ["error": "\(cause)"])
            return .unavailable(cause)
        }
    }

    /// Every answer of the sign-out path goes through `response(for:)`, the one table of its statuses and bodies.
    private func answer(_ outcome: SignOutOutcome, subject: String? = nil, connection: ClientConnection) {
        let response = Self.response(for: outcome)
        connection.record.subject = subject
        if case .invalidToken(let rejection) = outcome {
            // Counted and logged as on any route: the access line says why ("revoked", "no token"…).
            metrics.count(.authorizationFailures, Metrics.labels([("reason", rejection.metricReason)]))
            connection.record.authorization = rejection.description
        } else {
            connection.record.authorization =
                "signout: \(response.result.rawValue)" + (response.detail.map { " (\($0))" } ?? "")
        }
        metrics.count(.signouts, Metrics.labels([("result", response.result.rawValue)]))
        connection.respond(
            response.status, headers: response.headers, body: response.body, keepAlive: response.keepAlive)
    }
}
