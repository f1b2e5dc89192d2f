import AWS
import Foundation
import HTTP1
import Logging
import Testing

@testable import Gateway

/// The parts of the sign-in paths that moto cannot show: Cognito errors it never sends, and the mapping of every
/// outcome to SPEC.md's tables. The flows themselves run against moto and a scripted Cognito in IntegrationTests.
@Suite struct SignInMappingTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test func authenticationErrorsMapToTheTable() {
        let cases: [(String, SignInService.SignInOutcome)] = [
            ("NotAuthorizedException", .wrongCredentials),
            ("UserNotFoundException", .wrongCredentials),
            ("UserNotConfirmedException", .notConfirmed),
            ("PasswordResetRequiredException", .challenge("PASSWORD_RESET_REQUIRED")),
            ("TooManyRequestsException", .throttled),
            ("LimitExceededException", .throttled),
            ("ResourceNotFoundException", .unavailable("authenticate: ResourceNotFoundException: m", retryable: false)),
            (
                "UnrecognizedClientException",
                .unavailable("authenticate: UnrecognizedClientException: m", retryable: false)
            ),
        ]
        for (type, expected) in cases {
            let error = CognitoError(exceptionName: type, message: "m")
            #expect(SignInService.authenticationFailure(error, logger: logger) == expected, "\(type)")
        }
        #expect(
            SignInService.authenticationFailure(.serverError(status: 500), logger: logger)
                == .unavailable("authenticate: Cognito unavailable: status 500", retryable: true))
        #expect(
            SignInService.authenticationFailure(.serverError(status: 501), logger: logger)
                == .unavailable("authenticate: Cognito unavailable: status 501", retryable: false),
            "a 501 will not change: no Retry-After")
        #expect(
            SignInService.authenticationFailure(.malformedAnswer("no tokens"), logger: logger)
                == .unavailable("authenticate: Cognito unavailable: no tokens", retryable: false))
    }

    @Test func exceptionNamesBecomeCodes() {
        #expect(CognitoError(exceptionName: "UsernameExistsException", message: "").code == .usernameExists)
        #expect(CognitoError(exceptionName: "CodeMismatchException", message: "").code == .otherException)
        // Only Cognito's exception names are read as codes; the client's own codes cannot be forged by a __type.
        #expect(CognitoError(exceptionName: "unavailable", message: "").code == .otherException)
        #expect(CognitoError.noCredentials("x").code == .noCredentials)
    }

    @Test func signUpErrorsThatAreTheCallersAre400AndTheRest502() {
        #expect(
            SignInService.signUpFailure(
                CognitoError(exceptionName: "InvalidPasswordException", message: "too short"), logger: logger)
                == .signUpRefused("too short"))
        #expect(
            SignInService.signUpFailure(
                CognitoError(exceptionName: "InvalidParameterException", message: "bad"), logger: logger)
                == .signUpRefused("bad"))
        // A wrong SECRET_HASH is the gateway's configuration, not the caller's fault.
        let secret = SignInService.signUpFailure(
            CognitoError(exceptionName: "NotAuthorizedException", message: "Unable to verify secret hash"),
            logger: logger)
        #expect(
            secret == .unavailable("sign-up: NotAuthorizedException: Unable to verify secret hash", retryable: false))
        #expect(
            SignInService.signUpFailure(.noCredentials("none"), logger: logger)
                == .unavailable("sign-up: no AWS credentials: none", retryable: false))
        #expect(
            SignInService.signUpFailure(
                CognitoError(exceptionName: "TooManyRequestsException", message: ""), logger: logger)
                == .throttled)
    }

    @Test func everyOutcomeHasItsStatusAndMessage() {
        let table: [(SignInService.SignInOutcome, Int, String)] = [
            (.methodNotAllowed, 405, "Method Not Allowed"),
            (.rateLimited(retryAfterSeconds: 6), 429, "Too many requests"),
            (.bodyTooLarge, 413, "Request body too large"),
            (.badRequest("username is missing"), 400, "username is missing"),
            (.signUpRefused("policy"), 400, "failed to sign up: policy"),
            (.wrongCredentials, 401, "The username or password is incorrect"),
            (.challenge("NEW_PASSWORD_REQUIRED"), 401, "challenge required: NEW_PASSWORD_REQUIRED"),
            (.notConfirmed, 403, "User is not confirmed"),
            (.invalidRefreshToken, 401, "The refresh token is invalid"),
            (.throttled, 502, "Unknown error"),
            (.unavailable("x", retryable: true), 502, "Unknown error"),
            (.unavailable("x", retryable: false), 502, "Unknown error"),
        ]
        for (outcome, status, message) in table {
            let response = SignInService.response(for: outcome)
            #expect(response.status.code == status, "\(outcome)")
            #expect(String(decoding: response.body, as: UTF8.self) == #"{"status":"fail","msg":"\#(message)"}"#)
        }
        #expect(SignInService.response(for: .methodNotAllowed).headers.contains { $0 == ("Allow", "POST") })
        #expect(
            SignInService.response(for: .rateLimited(retryAfterSeconds: 6)).headers.contains {
                $0 == ("Retry-After", "6")
            })
        // Cognito's throttling and transient failures that outlasted the retries: come back after the back-off the
        // next retry would have had (standard mode: up to 2^2 s after three attempts).
        for outcome in [SignInService.SignInOutcome.throttled, .unavailable("x", retryable: true)] {
            #expect(SignInService.response(for: outcome).headers.contains { $0 == ("Retry-After", "4") }, "\(outcome)")
        }
        #expect(
            !SignInService.response(for: .unavailable("x", retryable: false)).headers.contains { $0.0 == "Retry-After" }
        )
        #expect(!SignInService.response(for: .bodyTooLarge).keepAlive, "the unread body ends the connection")
        let unavailable = SignInService.response(for: .unavailable("secret detail", retryable: false))
        #expect(!String(decoding: unavailable.body, as: UTF8.self).contains("secret"), "causes stay in the log")
        #expect(unavailable.detail == "secret detail")
    }

    @Test func successCarriesTheTokensAndIsNewAsAString() {
        let tokens = AuthenticationTokens(idToken: "i", accessToken: "a", refreshToken: nil, expiresIn: 3600)
        let response = SignInService.response(for: .authenticated(tokens, subject: "s", isNew: true))
        #expect(response.status.code == 200 && response.result == .signedUp)
        #expect(
            String(decoding: response.body, as: UTF8.self)
                == #"{"status":"success","id_token":"i","access_token":"a","refresh_token":null,"#
                + #""expires_in":3600,"user_id":"s","is_new":"true"}"#)
    }

    @Test func refreshAnswersCarryNewTokensAndNoRefreshToken() {
        let tokens = AuthenticationTokens(idToken: "i", accessToken: "a", refreshToken: "r", expiresIn: 300)
        let response = SignInService.response(for: .refreshed(tokens, subject: "s"))
        #expect(response.status.code == 200 && response.result == .refreshed)
        #expect(
            String(decoding: response.body, as: UTF8.self)
                == #"{"status":"success","id_token":"i","access_token":"a","expires_in":300}"#)
        #expect(response.headers.contains { $0 == ("Cache-Control", "no-store") })
    }

    @Test func refreshErrorsMapToTheTable() {
        let cases: [(String, SignInService.SignInOutcome)] = [
            ("NotAuthorizedException", .invalidRefreshToken),
            ("UserNotFoundException", .invalidRefreshToken),
            ("PasswordResetRequiredException", .invalidRefreshToken),
            ("UserNotConfirmedException", .notConfirmed),
            ("TooManyRequestsException", .throttled),
            ("ResourceNotFoundException", .unavailable("refresh: ResourceNotFoundException: m", retryable: false)),
        ]
        for (type, expected) in cases {
            let error = CognitoError(exceptionName: type, message: "m")
            #expect(SignInService.refreshFailure(error, logger: logger) == expected, "\(type)")
        }
    }

    @Test func cognitoMessagesLoseTheCallersSecretsBeforeTheLog() {
        // moto's NotAuthorizedError carries the refresh token it was given; a real service's message could too.
        let error = CognitoError(exceptionName: "InternalFailure", message: "bad token tok-123 for alice")
        let outcome = SignInService.refreshFailure(error, logger: logger, hiding: ["tok-123"])
        #expect(outcome == .unavailable("refresh: InternalFailure: bad token <hidden> for alice", retryable: false))
    }

    @Test func refreshBodiesAreCheckedLikeSignInBodies() {
        let table: [(String, Bool, String?)] = [
            (#"{"refresh_token":"abc.def"}"#, false, nil),
            (#"{"refresh_token":"abc.def"}"#, true, "username is missing"),
            (#"{"refresh_token":"abc.def","username":"dana"}"#, true, nil),
            (#"{"refresh_token":"abc.def","username":7}"#, false, "username must be a string"),
            (#"{"username":"dana"}"#, true, "refresh_token is missing"),
            (#"{"refresh_token":""}"#, false, "refresh_token must not be empty"),
            (#"{"refresh_token":"a b"}"#, false, "refresh_token must be printable ASCII without spaces"),
            (#"{"refresh_token":"a\u0000b"}"#, false, "refresh_token must be printable ASCII without spaces"),
            (#"{"refresh_token":"é"}"#, false, "refresh_token must be printable ASCII without spaces"),
            (
                #"{"refresh_token":"\#(String(repeating: "t", count: 4097))"}"#, false,
                "refresh_token is longer than 4096 characters"
            ),
            (#"{"refresh_token":"a","refresh_token":"b"}"#, false, "body is not JSON"),
            ("[]", false, "body must be a JSON object"),
        ]
        for (body, needsUsername, problem) in table {
            let result = SignInService.parseRefresh(Array(body.utf8), needsUsername: needsUsername)
            switch result {
            case .success: #expect(problem == nil, "\(body) was accepted")
            case .failure(let found): #expect(found.message == problem, "\(body)")
            }
        }
        let parsed = try? SignInService.parseRefresh(
            Array(#"{"refresh_token":"t","username":"u"}"#.utf8), needsUsername: false
        ).get()
        #expect(parsed == SignInService.RefreshRequest(refreshToken: "t", username: "u"))
    }

    @Test func subjectIsReadFromTheIDToken() {
        let payload = Data(#"{"sub":"abc-123","token_use":"id"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(
                of: "/", with: "_")
        #expect(SignInService.subject(ofIDToken: "e30.\(payload).c2ln") == "abc-123")
        #expect(SignInService.subject(ofIDToken: "e30.e30.c2ln") == nil)
        #expect(SignInService.subject(ofIDToken: "garbage") == nil)
    }

    @Test func rateLimiterRefillsAndSaysHowLongToWait() {
        let limiter = RateLimiter(RateLimit(count: 2, period: 60_000_000_000))
        let start: UInt64 = 1_000_000_000_000
        #expect(limiter.take("a", now: start) == nil)
        #expect(limiter.take("a", now: start) == nil)
        #expect(limiter.take("a", now: start) == 30, "one attempt comes back every 30 s")
        #expect(limiter.take("b", now: start) == nil, "addresses have their own buckets")
        #expect(limiter.take("a", now: start + 30_000_000_000) == nil)
        #expect(limiter.take("a", now: start + 30_000_000_000) != nil)
    }

    @Test func rateLimiterTableIsBounded() {
        let limiter = RateLimiter(RateLimit(count: 1, period: 60_000_000_000), maxAddresses: 2)
        #expect(limiter.take("a", now: 0) == nil)
        #expect(limiter.take("b", now: 0) == nil)
        #expect(limiter.take("c", now: 0) == 1, "a full table refuses new addresses rather than forget old ones")
        #expect(limiter.take("c", now: 120_000_000_000) == nil, "buckets that refilled are dropped to make room")

        // Buckets that refill within a millisecond: only the once-a-second sweep keeps new addresses out.
        let fast = RateLimiter(RateLimit(count: 1, period: 1_000_000), maxAddresses: 2)
        #expect(fast.take("a", now: 0) == nil && fast.take("b", now: 0) == nil)
        #expect(fast.take("c", now: 10_000_000) == nil, "the first sweep makes room")
        #expect(fast.take("d", now: 10_000_000) == nil)
        #expect(fast.take("e", now: 20_000_000) == 1, "full again 10 ms after a sweep: refused without sweeping")
        #expect(fast.take("e", now: 1_020_000_000) == nil, "a second later the sweep runs again")
    }

    @Test func clientSecretSourcesInOrder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("file-secret")
        try "from-file\n".write(to: file, atomically: true, encoding: .utf8)
        try "from-systemd\n".write(
            to: directory.appendingPathComponent("client_secret"), atomically: true, encoding: .utf8)
        let environment = ["CREDENTIALS_DIRECTORY": directory.path, "AUTHGATE_CLIENT_SECRET": "from-env"]

        #expect(try ClientSecret.read(file: file.path, environment: environment)?.value == "from-file")
        #expect(try ClientSecret.read(file: "", environment: environment)?.value == "from-systemd")
        #expect(
            try ClientSecret.read(file: "", environment: ["AUTHGATE_CLIENT_SECRET": "from-env"])?.value == "from-env")
        #expect(try ClientSecret.read(file: "", environment: [:]) == nil, "no secret: a public client")
        let missing = #expect(throws: ClientSecret.ReadError.self) {
            try ClientSecret.read(file: directory.appendingPathComponent("missing").path, environment: [:])
        }
        #expect(missing?.code == .unreadable)
        try "\n".write(to: file, atomically: true, encoding: .utf8)
        let empty = #expect(throws: ClientSecret.ReadError.self) {
            try ClientSecret.read(file: file.path, environment: [:])
        }
        #expect(empty?.code == .empty, "a newline alone is no secret")
    }
}
