import AWS
import Logging

// `POST /signin`'s flow: SignUp, then AdminConfirmSignUp for a new user, then authentication; each Cognito call
// retried by the client as `RetryPolicy` says, all of them within the request's deadline.
//
// Two ways a user can be left signed up but unconfirmed, and how the flow gets them out of it with `auto_confirm`:
// - AdminConfirmSignUp failed after a SignUp that succeeded (the answer was 502);
// - a SignUp timed out after it reached Cognito, and its retry was told UsernameExists.
// Either way the next authentication with that user's password gets UserNotConfirmedException, and the flow then
// confirms the user and authenticates again, once. Cognito checks the password before it says UserNotConfirmed
// (a wrong one is NotAuthorized), so only the user's proven owner gets an account confirmed this way. moto checks
// it too on InitiateAuth, but its AdminInitiateAuth lets unconfirmed users sign in: there the user is never told
// UserNotConfirmed and stays unconfirmed (harmless there, and what the moto tests show).

extension SignInService {
    /// One sign-in going through the flow.
    struct SignInRequest: Sendable {
        let credentials: Credentials
        let secretHash: String?
        let deadline: UInt64
        let finish: @Sendable (SignInOutcome) -> Void
    }

    func signIn(body: [UInt8], deadline: UInt64, finish: @escaping @Sendable (SignInOutcome) -> Void) {
        let credentials: Credentials
        switch Self.parseCredentials(body) {
        case .failure(let problem):
            finish(.badRequest(problem.message))
            return
        case .success(let parsed):
            credentials = parsed
        }
        let secretHash = clientSecret.map {
            SecretHash.compute(username: credentials.username, clientID: settings.clientID, clientSecret: $0)
        }
        let request = SignInRequest(
            credentials: credentials, secretHash: secretHash, deadline: deadline, finish: finish)
        guard settings.signUp else {
            authenticate(request, isNew: false, mayConfirm: false)
            return
        }
        cognito.signUp(
            clientID: settings.clientID, username: credentials.username, password: credentials.password,
            secretHash: secretHash, deadline: deadline
        ) { [self] result in
            switch result {
            case .success(let signedUp):
                if settings.autoConfirm && !signedUp.userConfirmed {
                    confirmThenAuthenticate(request)
                } else {
                    authenticate(request, isNew: true, mayConfirm: false)
                }
            case .failure(let error) where error.code == .usernameExists:
                // An existing user, or this very sign-up's first attempt, which reached Cognito before it timed
                // out: authentication tells them apart (UserNotConfirmed for the latter).
                authenticate(request, isNew: false, mayConfirm: settings.autoConfirm)
            case .failure(let error):
                request.finish(signUpFailure(error, request))
            }
        }
    }

    /// AdminConfirmSignUp, then authentication. `is_new` is "true": the user was signed up, or left unconfirmed by
    /// an earlier sign-up that never answered with tokens, and this request is their first sign-in.
    private func confirmThenAuthenticate(_ request: SignInRequest) {
        cognito.adminConfirmSignUp(
            userPoolID: userPoolID, username: request.credentials.username, deadline: request.deadline
        ) { [self] result in
            switch result {
            case .success:
                authenticate(request, isNew: true, mayConfirm: false)
            case .failure(let error) where error.code == .notAuthorized:
                // "User cannot be confirmed. Current status is CONFIRMED": a concurrent sign-in, or this call's own
                // first attempt, confirmed the user. Authentication says whether that is so.
                authenticate(request, isNew: true, mayConfirm: false)
            case .failure(let error):
                request.finish(cognitoFailure(error, step: "confirm", request))
            }
        }
    }

    /// Authentication with the configured flow; `mayConfirm` allows one confirmation of a user Cognito reports
    /// unconfirmed (with `sign_up` and `auto_confirm` on: the gateway then owns the pool's sign-ups).
    private func authenticate(_ request: SignInRequest, isNew: Bool, mayConfirm: Bool) {
        let credentials = request.credentials
        cognito.authenticate(
            userPoolID: authenticationPoolID, clientID: settings.clientID, username: credentials.username,
            password: credentials.password, secretHash: request.secretHash, deadline: request.deadline
        ) { [self] result in
            switch result {
            case .success(.authenticated(let tokens)):
                guard let subject = Self.subject(ofIDToken: tokens.idToken) else {
                    request.finish(.unavailable("the IdToken has no readable sub", retryable: false))
                    return
                }
                request.finish(.authenticated(tokens, subject: subject, isNew: isNew))
            case .success(.challenge(let name)):
                request.finish(.challenge(name))
            case .failure(let error) where error.code == .userNotConfirmed && mayConfirm:
                confirmThenAuthenticate(request)
            case .failure(let error):
                request.finish(Self.authenticationFailure(error, logger: logger, hiding: [credentials.password]))
            }
        }
    }

    private func signUpFailure(_ error: CognitoError, _ request: SignInRequest) -> SignInOutcome {
        Self.signUpFailure(error, logger: logger, hiding: [request.credentials.password])
    }

    private func cognitoFailure(_ error: CognitoError, step: String, _ request: SignInRequest) -> SignInOutcome {
        Self.cognitoFailure(error, step: step, logger: logger, hiding: [request.credentials.password])
    }

    // MARK: Cognito's errors as outcomes

    /// SignUp errors that are the caller's (the password policy, a malformed username) become 400; the rest,
    /// which are the gateway's or Cognito's (secret hash, unknown client, credentials), become 502.
    static func signUpFailure(_ error: CognitoError, logger: Logger, hiding secrets: [String] = []) -> SignInOutcome {
        switch error.code {
        case .invalidPassword, .invalidParameter, .userLambdaValidation:
            return .signUpRefused(error.message)
        default:
            return cognitoFailure(error, step: "sign-up", logger: logger, hiding: secrets)
        }
    }

    /// Authentication errors: a wrong password or an unknown user look the same to the caller (no user
    /// enumeration); the rest are the gateway's or Cognito's.
    static func authenticationFailure(_ error: CognitoError, logger: Logger, hiding secrets: [String] = [])
        -> SignInOutcome
    {
        switch error.code {
        case .notAuthorized, .userNotFound:
            return .wrongCredentials
        case .userNotConfirmed:
            return .notConfirmed
        case .passwordResetRequired:
            return .challenge("PASSWORD_RESET_REQUIRED")
        default:
            return cognitoFailure(error, step: "authenticate", logger: logger, hiding: secrets)
        }
    }

    /// A call that failed for a reason that is not the caller's: logged, and 502 for the caller (with Retry-After
    /// when the failure was transient and its retries ran out). `secrets` are cut out of Cognito's message.
    static func cognitoFailure(_ error: CognitoError, step: String, logger: Logger, hiding secrets: [String] = [])
        -> SignInOutcome
    {
        let described = error.description(hiding: secrets)
        logger.error("cognito call failed", metadata: ["step": "\(step)", "error": "\(described)"])
        if RetryPolicy.isThrottling(error) { return .throttled }
        return .unavailable("\(step): \(described)", retryable: RetryPolicy.isRetryable(error))
    }
}
