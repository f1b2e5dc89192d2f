import AWS
import Encoding
import EventLoop
import HTTP1
import JWT

// The error-to-status table: every answer the gateway makes itself, each with its one status and body, as
// SPEC.md's "What goes over the wire", "POST /signin" and "POST /refresh" list them. Requests refused before any handler saw
// them (malformed, too large, too slow) are answered by the connection from `HTTPParseError.status` in HTTP1,
// which owns the parser's codes.

/// A request the public or admin listener refuses: the status and body the client gets.
enum Refusal: Sendable, Equatable {
    /// Dot-segments, or an encoded `/` or `\`, in the path.
    case unsafePath
    case noRoute
    case token(TokenRejection)
    /// The token is valid but the route's groups or scopes are not satisfied.
    case forbidden
    /// A CORS preflight from an origin `[cors]` does not allow.
    case preflightFromDisallowedOrigin
    /// The upstream refused, reset, or sent a malformed answer.
    case upstreamFailed
    /// The upstream sent no response head within `upstream_timeout`.
    case upstreamTimeout
    /// The admin listener answers GET and HEAD only.
    case adminMethodNotAllowed

    var status: HTTPStatus {
        switch self {
        case .unsafePath: return .badRequest
        case .noRoute: return .notFound
        case .token(.noSigningKeys): return .serviceUnavailable
        case .token: return .unauthorized
        case .forbidden, .preflightFromDisallowedOrigin: return .forbidden
        case .upstreamFailed: return .badGateway
        case .upstreamTimeout: return .gatewayTimeout
        case .adminMethodNotAllowed: return .methodNotAllowed
        }
    }

    /// The fields besides Content-Type.
    var headers: [(String, String)] {
        switch self {
        case .token(.noSigningKeys): return []
        case .token(.expired): return [("WWW-Authenticate", #"Bearer error="invalid_token""#)]
        case .token: return [("WWW-Authenticate", "Bearer")]
        case .adminMethodNotAllowed: return [("Allow", "GET, HEAD")]
        default: return []
        }
    }

    /// API Gateway's `{"message": …}`: the status's reason, except for an expired token.
    var body: [UInt8] {
        switch self {
        case .token(.expired): return Array(#"{"message":"The incoming token has expired"}"#.utf8)
        default: return status.messageBody
        }
    }

    /// A request whose path could be read two ways, or whose upstream failed, is the connection's last.
    var keepAlive: Bool {
        switch self {
        case .unsafePath, .upstreamFailed, .upstreamTimeout: return false
        default: return true
        }
    }
}

extension ClientConnection {
    /// Answers the current request with `refusal`'s status and body.
    func refuse(_ refusal: Refusal) {
        respond(
            refusal.status, headers: refusal.headers + [("Content-Type", "application/json")], body: refusal.body,
            keepAlive: refusal.keepAlive)
    }
}

extension SignOutService {
    /// How a request to the sign-out path ended.
    enum SignOutOutcome: Sendable, Equatable {
        case signedOut
        case methodNotAllowed
        /// The token failed the checks of any route (or is not an access token): answered as a route would.
        case invalidToken(TokenRejection)
        /// Cognito refused the token (NotAuthorizedException); the gateway revoked it all the same.
        case refusedByCognito(String)
        case throttled
        /// Cognito unreachable, answering 5xx, or refusing for another reason: nothing was revoked.
        case unavailable(String)
    }

    /// The `signouts_total` label and the access line's `auth` field.
    enum SignOutResult: String, CaseIterable {
        case signedOut = "ok"
        case methodNotAllowed = "method_not_allowed"
        case invalidToken = "invalid_token"
        case refusedByCognito = "refused_by_cognito"
        case throttled
        case cognitoFailed = "cognito_failed"
    }

    struct Response {
        let status: HTTPStatus
        let headers: [(String, String)]
        let body: [UInt8]
        let keepAlive: Bool
        let result: SignOutResult
        /// For the log only.
        let detail: String?
    }

    /// SPEC.md "POST /signout": 200 or a route's 401; the rest as /signin answers them.
    static func response(for outcome: SignOutOutcome) -> Response {
        switch outcome {
        case .signedOut:
            return Response(
                status: .ok, headers: SignInService.jsonHeaders, body: Array(#"{"status":"success"}"#.utf8),
                keepAlive: true, result: .signedOut, detail: nil)
        case .invalidToken(let rejection):
            return refusal(.token(rejection), .invalidToken)
        case .refusedByCognito(let message):
            // To the client, a token Cognito refuses is a token that is not good: a route's 401.
            return refusal(.token(.revoked), .refusedByCognito, detail: message)
        case .methodNotAllowed:
            return fail(.methodNotAllowed, "Method Not Allowed", .methodNotAllowed, headers: [("Allow", "POST")])
        case .throttled:
            return fail(.tooManyRequests, "Too many requests", .throttled, headers: [("Retry-After", "1")])
        case .unavailable(let reason):
            return fail(.badGateway, "Unknown error", .cognitoFailed, detail: reason)
        }
    }

    private static func refusal(_ refusal: Refusal, _ result: SignOutResult, detail: String? = nil) -> Response {
        Response(
            status: refusal.status, headers: refusal.headers + SignInService.jsonHeaders, body: refusal.body,
            keepAlive: refusal.keepAlive, result: result, detail: detail)
    }

    private static func fail(
        _ status: HTTPStatus, _ message: String, _ result: SignOutResult, headers: [(String, String)] = [],
        detail: String? = nil
    ) -> Response {
        let body = "{\"status\":\"fail\",\"msg\":\(JSONText.quoted(message))}"
        return Response(
            status: status, headers: SignInService.jsonHeaders + headers, body: Array(body.utf8), keepAlive: true,
            result: result, detail: detail)
    }
}

/// The admin listener's `POST /revoke` (SPEC.md "POST /signout"): `{"sub": "…"}`.
enum RevokeOutcome: Sendable, Equatable {
    case revoked
    case methodNotAllowed
    case bodyTooLarge
    /// The body is not a JSON object with a usable `sub`; the text says what is wrong.
    case badRequest(String)

    var status: HTTPStatus {
        switch self {
        case .revoked: return .ok
        case .methodNotAllowed: return .methodNotAllowed
        case .bodyTooLarge: return .contentTooLarge
        case .badRequest: return .badRequest
        }
    }

    var headers: [(String, String)] {
        let json = [("Content-Type", "application/json")]
        return self == .methodNotAllowed ? json + [("Allow", "POST")] : json
    }

    var body: [UInt8] {
        switch self {
        case .revoked: return Array(#"{"status":"success"}"#.utf8)
        case .methodNotAllowed: return Array(#"{"status":"fail","msg":"Method Not Allowed"}"#.utf8)
        case .bodyTooLarge: return Array(#"{"status":"fail","msg":"Request body too large"}"#.utf8)
        case .badRequest(let problem): return Array("{\"status\":\"fail\",\"msg\":\(JSONText.quoted(problem))}".utf8)
        }
    }

    /// The body of a refused one was not read to its end: the connection cannot carry another request.
    var keepAlive: Bool { self != .bodyTooLarge }

    /// The access line's `auth` field.
    var logName: String {
        switch self {
        case .revoked: return "revoke: ok"
        case .methodNotAllowed: return "revoke: method_not_allowed"
        case .bodyTooLarge: return "revoke: body_too_large"
        case .badRequest: return "revoke: bad_request"
        }
    }
}

extension SignInService {
    /// How a request to a sign-in path ended: one case per row of SPEC.md's /signin and /refresh tables.
    enum SignInOutcome: Sendable, Equatable {
        case authenticated(AuthenticationTokens, subject: String, isNew: Bool)
        /// New tokens for a refresh token; `subject` is the new ID token's `sub`, for the access log.
        case refreshed(AuthenticationTokens, subject: String)
        case methodNotAllowed
        /// The gateway's own per-address limit.
        case rateLimited(retryAfterSeconds: Int)
        case bodyTooLarge
        /// The body is not the JSON object the path takes; the text says what is wrong.
        case badRequest(String)
        /// Cognito refused the sign-up for a reason that is the caller's (its message is shown).
        case signUpRefused(String)
        case wrongCredentials
        /// The refresh token is invalid, expired or revoked (or the username does not go with it).
        case invalidRefreshToken
        case challenge(String)
        case notConfirmed
        /// Cognito's throttling outlasted the retries: Cognito's limit, not this client's, so 502 with Retry-After.
        case throttled
        /// Cognito unreachable, answering 5xx, or refusing for the gateway's own reasons: the cause is logged.
        /// `retryable`: the failure was transient and its retries ran out, so the client is told when to come back.
        case unavailable(String, retryable: Bool)
    }

    /// How a request to a sign-in path ended: the `signins_total` / `refreshes_total` label and the access line's
    /// `auth` field.
    enum SignInResult: String, CaseIterable {
        case signedUp = "signed_up"
        case authenticated = "ok"
        case refreshed
        case methodNotAllowed = "method_not_allowed"
        case rateLimited = "rate_limited"
        case bodyTooLarge = "body_too_large"
        case badRequest = "bad_request"
        case signUpRefused = "sign_up_refused"
        case wrongCredentials = "wrong_credentials"
        case invalidRefreshToken = "invalid_refresh_token"
        case challenge
        case notConfirmed = "not_confirmed"
        case throttled
        case cognitoFailed = "cognito_failed"
    }

    /// What a sign-in path answers for one outcome, and how it is counted and logged (`detail` never reaches the client).
    struct Response {
        let status: HTTPStatus
        let headers: [(String, String)]
        let body: [UInt8]
        let keepAlive: Bool
        let result: SignInResult
        let detail: String?
    }

    static let jsonHeaders = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]

    /// After a transient failure whose retries ran out: when the client may try again.
    static let retryAfter = ("Retry-After", String(RetryPolicy.standard.retryAfterSeconds))

    /// SPEC.md's /signin and /refresh tables.
    static func response(for outcome: SignInOutcome) -> Response {
        switch outcome {
        case .authenticated(let tokens, let subject, let isNew):
            return Response(
                status: .ok, headers: jsonHeaders, body: successBody(tokens, subject: subject, isNew: isNew),
                keepAlive: true, result: isNew ? .signedUp : .authenticated, detail: nil)
        case .refreshed(let tokens, _):
            return Response(
                status: .ok, headers: jsonHeaders, body: refreshedBody(tokens), keepAlive: true, result: .refreshed,
                detail: nil)
        case .methodNotAllowed:
            return fail(.methodNotAllowed, "Method Not Allowed", .methodNotAllowed, headers: [("Allow", "POST")])
        case .rateLimited(let seconds):
            return fail(
                .tooManyRequests, "Too many requests", .rateLimited, headers: [("Retry-After", String(seconds))])
        case .bodyTooLarge:
            // The rest of the body is not read: the connection cannot carry another request.
            return fail(.contentTooLarge, "Request body too large", .bodyTooLarge, keepAlive: false)
        case .badRequest(let problem):
            return fail(.badRequest, problem, .badRequest)
        case .signUpRefused(let message):
            return fail(.badRequest, "failed to sign up: \(message)", .signUpRefused)
        case .wrongCredentials:
            return fail(.unauthorized, "The username or password is incorrect", .wrongCredentials)
        case .invalidRefreshToken:
            return fail(.unauthorized, "The refresh token is invalid", .invalidRefreshToken)
        case .challenge(let name):
            return fail(.unauthorized, "challenge required: \(name)", .challenge, detail: name)
        case .notConfirmed:
            return fail(.forbidden, "User is not confirmed", .notConfirmed)
        case .throttled:
            return fail(.badGateway, "Unknown error", .throttled, headers: [retryAfter])
        case .unavailable(let reason, let retryable):
            return fail(
                .badGateway, "Unknown error", .cognitoFailed, headers: retryable ? [retryAfter] : [], detail: reason)
        }
    }

    private static func fail(
        _ status: HTTPStatus, _ message: String, _ result: SignInResult, headers: [(String, String)] = [],
        keepAlive: Bool = true, detail: String? = nil
    ) -> Response {
        let body = "{\"status\":\"fail\",\"msg\":\(JSONText.quoted(message))}"
        return Response(
            status: status, headers: jsonHeaders + headers, body: Array(body.utf8), keepAlive: keepAlive,
            result: result, detail: detail)
    }

    private static func successBody(_ tokens: AuthenticationTokens, subject: String, isNew: Bool) -> [UInt8] {
        var fields: [(String, String)] = [
            ("status", JSONText.quoted("success")), ("id_token", JSONText.quoted(tokens.idToken)),
            ("access_token", JSONText.quoted(tokens.accessToken)),
        ]
        fields.append(("refresh_token", tokens.refreshToken.map(JSONText.quoted) ?? "null"))
        fields.append(("expires_in", String(tokens.expiresIn)))
        fields.append(("user_id", JSONText.quoted(subject)))
        fields.append(("is_new", JSONText.quoted(isNew ? "true" : "false")))
        return jsonObject(fields)
    }

    /// /refresh's 200: no refresh token (Cognito keeps the one the client holds) and no `user_id` or `is_new`.
    private static func refreshedBody(_ tokens: AuthenticationTokens) -> [UInt8] {
        jsonObject([
            ("status", JSONText.quoted("success")), ("id_token", JSONText.quoted(tokens.idToken)),
            ("access_token", JSONText.quoted(tokens.accessToken)), ("expires_in", String(tokens.expiresIn)),
        ])
    }

    private static func jsonObject(_ fields: [(String, String)]) -> [UInt8] {
        Array(("{" + fields.map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}").utf8)
    }
}
