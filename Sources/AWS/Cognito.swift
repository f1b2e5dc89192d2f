import Cryptography
import Dispatch
import Encoding
package import Endpoints
import Foundation
package import HTTPClient
import Time

/// Cognito's SECRET_HASH: base64(HMAC-SHA256(key: client secret, message: username + client id)).
package enum SecretHash {
    package static func compute(username: String, clientID: String, clientSecret: String) -> String {
        let code = HMACSHA256.authenticationCode(
            key: Array(clientSecret.utf8), message: Array((username + clientID).utf8))
        return Data(code).base64EncodedString()
    }
}

/// Tokens from a successful authentication.
package struct AuthenticationTokens: Sendable, Equatable {
    package let idToken: String
    package let accessToken: String
    package let refreshToken: String?
    package let expiresIn: Int

    package init(idToken: String, accessToken: String, refreshToken: String?, expiresIn: Int) {
        self.idToken = idToken
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresIn = expiresIn
    }
}

package enum AuthenticationResult: Sendable {
    case authenticated(AuthenticationTokens)
    /// Cognito wants more before it issues tokens (NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA, …).
    case challenge(String)
}

/// The Cognito Identity Provider operations of the sign-in flows, JSON 1.1 over the control-plane client. Every
/// call is retried as `RetryPolicy` says (the AWS SDKs' standard mode, within the caller's deadline): SignUp and
/// AdminConfirmSignUp included, whose callers treat the answers a repeated call gets (UsernameExists, already
/// confirmed) as the success they are.
package struct CognitoClient: Sendable {
    package let endpoint: HTTPURL
    package let region: String
    package let http: ControlPlaneClient
    package let credentials: CredentialProvider?
    package let retryPolicy: RetryPolicy
    /// Told of every retry before its back-off (for the event log and the metrics).
    let onRetry: @Sendable (Retry) -> Void
    let now: @Sendable () -> Int

    /// A failed attempt that is about to be tried again.
    package struct Retry: Sendable {
        package let operation: String
        /// The attempt that failed, from 1.
        package let attempt: Int
        package let error: CognitoError
        package let backoffNanoseconds: UInt64
    }

    package init(
        endpoint: HTTPURL, region: String, http: ControlPlaneClient, credentials: CredentialProvider?,
        retryPolicy: RetryPolicy = .standard, onRetry: @escaping @Sendable (Retry) -> Void = { _ in },
        now: @escaping @Sendable () -> Int = SystemClock.unixSeconds
    ) {
        self.endpoint = endpoint
        self.region = region
        self.http = http
        self.credentials = credentials
        self.retryPolicy = retryPolicy
        self.onRetry = onRetry
        self.now = now
    }

    package struct SignUpResult: Sendable {
        package let userConfirmed: Bool
        package let userSub: String?
    }

    /// `deadline` (monotonic nanoseconds, as every deadline here) bounds the call's attempts.
    package func signUp(
        clientID: String, username: String, password: String, secretHash: String?, deadline: UInt64,
        completion: @escaping @Sendable (Result<SignUpResult, CognitoError>) -> Void
    ) {
        var fields: [(String, String)] = [
            ("ClientId", JSONText.quoted(clientID)), ("Username", JSONText.quoted(username)),
        ]
        fields.append(("Password", JSONText.quoted(password)))
        if let secretHash { fields.append(("SecretHash", JSONText.quoted(secretHash))) }
        call("SignUp", body: Self.object(fields), signed: false, deadline: deadline) { result in
            completion(
                result.map { answer in
                    SignUpResult(
                        userConfirmed: answer["UserConfirmed"] == .bool(true), userSub: answer["UserSub"]?.string)
                })
        }
    }

    package func adminConfirmSignUp(
        userPoolID: String, username: String, deadline: UInt64,
        completion: @escaping @Sendable (Result<Void, CognitoError>) -> Void
    ) {
        let body = Self.object([("UserPoolId", JSONText.quoted(userPoolID)), ("Username", JSONText.quoted(username))])
        call("AdminConfirmSignUp", body: body, signed: true, deadline: deadline) { completion($0.map { _ in () }) }
    }

    /// GlobalSignOut: Cognito ends the user's refresh tokens (and refuses the access token for user operations).
    /// Unsigned: the access token is the authorization. Cognito answers `{}`.
    package func globalSignOut(
        accessToken: String, completion: @escaping @Sendable (Result<Void, CognitoError>) -> Void
    ) {
        let body = Self.object([("AccessToken", JSONText.quoted(accessToken))])
        call("GlobalSignOut", body: body, signed: false) { completion($0.map { _ in () }) }
    }

    /// ADMIN_USER_PASSWORD_AUTH (SigV4-signed) when `userPoolID` is given, else USER_PASSWORD_AUTH (unsigned).
    package func authenticate(
        userPoolID: String?, clientID: String, username: String, password: String, secretHash: String?,
        deadline: UInt64, completion: @escaping @Sendable (Result<AuthenticationResult, CognitoError>) -> Void
    ) {
        let (operation, body) = Self.authenticationBody(
            userPoolID: userPoolID, clientID: clientID, username: username, password: password, secretHash: secretHash
        )
        call(operation, body: body, signed: userPoolID != nil, deadline: deadline) { result in
            completion(result.flatMap(Self.authenticationResult))
        }
    }

    /// REFRESH_TOKEN_AUTH through AdminInitiateAuth (SigV4-signed) when `userPoolID` is given, else InitiateAuth
    /// (unsigned). `secretHash` is computed from the user's Cognito username, as for a password.
    package func refresh(
        userPoolID: String?, clientID: String, refreshToken: String, secretHash: String?, deadline: UInt64,
        completion: @escaping @Sendable (Result<AuthenticationResult, CognitoError>) -> Void
    ) {
        let (operation, body) = Self.refreshBody(
            userPoolID: userPoolID, clientID: clientID, refreshToken: refreshToken, secretHash: secretHash)
        call(operation, body: body, signed: userPoolID != nil, deadline: deadline) { result in
            completion(result.flatMap(Self.authenticationResult))
        }
    }

    static func refreshBody(userPoolID: String?, clientID: String, refreshToken: String, secretHash: String?)
        -> (operation: String, body: [UInt8])
    {
        initiateAuthBody(
            userPoolID: userPoolID, clientID: clientID, flow: "REFRESH_TOKEN_AUTH",
            parameters: [("REFRESH_TOKEN", refreshToken)], secretHash: secretHash)
    }

    static func authenticationBody(
        userPoolID: String?, clientID: String, username: String, password: String, secretHash: String?
    ) -> (operation: String, body: [UInt8]) {
        initiateAuthBody(
            userPoolID: userPoolID, clientID: clientID,
            flow: userPoolID != nil ? "ADMIN_USER_PASSWORD_AUTH" : "USER_PASSWORD_AUTH",
            parameters: [("USERNAME", username), ("PASSWORD", password)], secretHash: secretHash)
    }

    /// AdminInitiateAuth with the pool, InitiateAuth without: `parameters` (plain text values), then SECRET_HASH.
    private static func initiateAuthBody(
        userPoolID: String?, clientID: String, flow: String, parameters: [(String, String)], secretHash: String?
    ) -> (operation: String, body: [UInt8]) {
        var parameters = parameters.map { ($0.0, JSONText.quoted($0.1)) }
        if let secretHash { parameters.append(("SECRET_HASH", JSONText.quoted(secretHash))) }
        var fields: [(String, String)] = []
        if let userPoolID { fields.append(("UserPoolId", JSONText.quoted(userPoolID))) }
        fields.append(("ClientId", JSONText.quoted(clientID)))
        fields.append(("AuthFlow", JSONText.quoted(flow)))
        fields.append(("AuthParameters", String(decoding: object(parameters), as: UTF8.self)))
        return (userPoolID != nil ? "AdminInitiateAuth" : "InitiateAuth", object(fields))
    }

    static func authenticationResult(_ answer: [String: JSONValue]) -> Result<AuthenticationResult, CognitoError> {
        if let tokens = answer["AuthenticationResult"]?.object {
            guard let idToken = tokens["IdToken"]?.string, let accessToken = tokens["AccessToken"]?.string else {
                return .failure(.malformedAnswer("AuthenticationResult without IdToken or AccessToken"))
            }
            guard let expiresIn = lifetimeSeconds(tokens["ExpiresIn"]) else {
                return .failure(.malformedAnswer("ExpiresIn is not a whole number of seconds up to ten years"))
            }
            return .success(
                .authenticated(
                    AuthenticationTokens(
                        idToken: idToken, accessToken: accessToken, refreshToken: tokens["RefreshToken"]?.string,
                        expiresIn: expiresIn
                    )))
        }
        if let challenge = answer["ChallengeName"]?.string, !challenge.isEmpty {
            return .success(.challenge(challenge))
        }
        return .failure(.malformedAnswer("an answer with neither AuthenticationResult nor ChallengeName"))
    }

    /// The tokens' lifetime: Cognito's default of an hour when absent. Int(Double) traps out of range, and the
    /// number came over the network.
    static func lifetimeSeconds(_ value: JSONValue?) -> Int? {
        guard let value else { return 3600 }
        guard let seconds = value.number, seconds >= 0, seconds <= 315_360_000, seconds == seconds.rounded() else {
            return nil
        }
        return Int(seconds)
    }

    /// Compact JSON object from already-encoded values, in the given order (the order botocore writes).
    static func object(_ fields: [(String, String)]) -> [UInt8] {
        Array(("{" + fields.map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}").utf8)
    }

    // MARK: Transport

    /// The unsigned headers of a call; the signer adds X-Amz-Date, the token and Authorization.
    func headers(operation: String) -> [(String, String)] {
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Host", endpoint.authority),
            ("X-Amz-Target", "AWSCognitoIdentityProviderService.\(operation)"),
        ]
    }

    /// One operation, tried as `retryPolicy` says until it answers, fails for good, or the deadline leaves no room.
    /// Without a deadline, the policy's attempts have their whole timeouts. The completion gets the last error,
    /// with the number of attempts made.
    func call(
        _ operation: String, body: [UInt8], signed: Bool, deadline: UInt64? = nil,
        completion: @escaping @Sendable (Result<[String: JSONValue], CognitoError>) -> Void
    ) {
        let start = SystemClock.monotonicNanoseconds()
        let policy = retryPolicy
        let deadline = deadline ?? start &+ policy.attemptTimeout &* UInt64(policy.maxAttempts)
        guard let timeout = policy.firstAttemptTimeout(now: start, deadline: deadline) else {
            completion(.failure(.deadlinePassed()))
            return
        }
        attempt(1, operation, body: body, signed: signed, timeout: timeout, deadline: deadline, completion: completion)
    }

    private func attempt(
        _ number: Int, _ operation: String, body: [UInt8], signed: Bool, timeout: UInt64, deadline: UInt64,
        completion: @escaping @Sendable (Result<[String: JSONValue], CognitoError>) -> Void
    ) {
        callOnce(operation, body: body, signed: signed, timeout: timeout) { [self] result in
            guard case .failure(var error) = result else {
                completion(result)
                return
            }
            error.attempts = number
            let now = SystemClock.monotonicNanoseconds()
            switch retryPolicy.afterFailure(error, attempt: number, now: now, deadline: deadline) {
            case .stop:
                completion(.failure(error))
            case .retry(let delay):
                onRetry(Retry(operation: operation, attempt: number, error: error, backoffNanoseconds: delay))
                http.queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: delay))) { [self] in
                    attempt(
                        number + 1, operation, body: body, signed: signed, timeout: retryPolicy.attemptTimeout,
                        deadline: deadline, completion: completion)
                }
            }
        }
    }

    /// One attempt: signed anew each time (SigV4 dates the signature), so a retry is never sent with a stale one.
    private func callOnce(
        _ operation: String, body: [UInt8], signed: Bool, timeout: UInt64,
        completion: @escaping @Sendable (Result<[String: JSONValue], CognitoError>) -> Void
    ) {
        let headers = headers(operation: operation)
        guard signed else {
            send(headers: headers, body: body, timeout: timeout, completion: completion)
            return
        }
        guard let credentials else {
            completion(.failure(.noCredentials("no credential provider")))
            return
        }
        credentials.credentials { [self] result in
            switch result {
            case .success(let credentials):
                let signer = SigV4Signer(region: region, service: "cognito-idp")
                let signedHeaders = signer.signedHeaders(
                    method: "POST", path: endpoint.requestPath, headers: headers, body: body,
                    credentials: credentials,
                    secondsSince1970: now()
                )
                send(headers: signedHeaders, body: body, timeout: timeout, completion: completion)
            case .failure(let error):
                completion(.failure(.noCredentials(error.description)))
            }
        }
    }

    private func send(
        headers: [(String, String)], body: [UInt8], timeout: UInt64,
        completion: @escaping @Sendable (Result<[String: JSONValue], CognitoError>) -> Void
    ) {
        // The Host field is sent as signed (curl keeps a Host given to it instead of writing its own).
        // A timeout of 0 means none to curl: at least a millisecond.
        let request = ControlRequest(
            method: "POST", url: endpoint.description, headers: headers, body: body,
            timeoutMilliseconds: max(1, Int(timeout / 1_000_000)), maxResponseBytes: 256 << 10
        )
        http.execute(request) { result in
            switch result {
            case .success(let response):
                completion(Self.interpret(status: response.status, body: response.body))
            case .failure(let error):
                completion(.failure(.noAnswer(error)))
            }
        }
    }

    /// A 2xx JSON object is the answer; a 4xx carries `__type` and `message`; anything else is unavailability.
    static func interpret(status: Int, body: [UInt8]) -> Result<[String: JSONValue], CognitoError> {
        let object = (try? StrictJSON.parse(body))?.object
        switch status {
        case 200..<300:
            guard let object else {
                return .failure(.malformedAnswer("status \(status) with a body that is not a JSON object"))
            }
            return .success(object)
        case 400..<500:
            guard let object, let type = object["__type"]?.string else {
                return .failure(.malformedAnswer("status \(status) without an error type"))
            }
            // "com.amazonaws.cognito...#UsernameExistsException" or plain "UsernameExistsException".
            let name = type.split(separator: "#").last.map(String.init) ?? type
            let message = object["message"]?.string ?? object["Message"]?.string ?? ""
            return .failure(CognitoError(exceptionName: name, message: message))
        default:
            return .failure(.serverError(status: status))
        }
    }
}
