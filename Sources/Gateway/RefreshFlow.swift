import AWS
import Logging

// `POST /refresh`'s flow: one REFRESH_TOKEN_AUTH through the configured `auth_flow`, retried by the client as
// `RetryPolicy` says within the request's deadline. The refresh token is never logged: it is cut out of whatever
// Cognito's messages echo before they reach the event log.

extension SignInService {
    func refresh(body: [UInt8], deadline: UInt64, finish: @escaping @Sendable (SignInOutcome) -> Void) {
        let request: RefreshRequest
        switch Self.parseRefresh(body, needsUsername: clientSecret != nil) {
        case .failure(let problem):
            finish(.badRequest(problem.message))
            return
        case .success(let parsed):
            request = parsed
        }
        var secretHash: String?
        if let clientSecret, let username = request.username {
            secretHash = SecretHash.compute(username: username, clientID: settings.clientID, clientSecret: clientSecret)
        }
        let hidden = [request.refreshToken]
        cognito.refresh(
            userPoolID: authenticationPoolID, clientID: settings.clientID, refreshToken: request.refreshToken,
            secretHash: secretHash, deadline: deadline
        ) { [logger] result in
            switch result {
            case .success(.authenticated(let tokens)):
                guard let subject = Self.subject(ofIDToken: tokens.idToken) else {
                    finish(.unavailable("the IdToken has no readable sub", retryable: false))
                    return
                }
                finish(.refreshed(tokens, subject: subject))
            case .success(.challenge(let name)):
                // Cognito asks for no challenge on a refresh: an answer this flow cannot act on.
                finish(.unavailable("refresh answered with the challenge \(name)", retryable: false))
            case .failure(let error):
                finish(Self.refreshFailure(error, logger: logger, hiding: hidden))
            }
        }
    }

    /// An invalid, expired or revoked refresh token is NotAuthorized, so is a SECRET_HASH made from the wrong
    /// username; a deleted user is UserNotFound, one who must reset their password cannot refresh either: all are
    /// "the refresh token is invalid" to the caller. The rest are as for /signin.
    static func refreshFailure(_ error: CognitoError, logger: Logger, hiding secrets: [String] = []) -> SignInOutcome {
        switch error.code {
        case .notAuthorized, .userNotFound, .passwordResetRequired:
            return .invalidRefreshToken
        case .userNotConfirmed:
            return .notConfirmed
        default:
            return cognitoFailure(error, step: "refresh", logger: logger, hiding: secrets)
        }
    }
}
