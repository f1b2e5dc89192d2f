import Endpoints
import Foundation
import HTTPClient
import Synchronization
import TestSupport
import Testing
import Time

@testable import AWS

/// Retrying is a property of the client's `call`: every operation gets it, against a local server playing
/// Cognito's bad moments. The jitter is fixed at 0 so the retries follow at once; attempts are short.
@Suite(.serialized) struct CognitoRetryTests {
    static let attemptTimeout: UInt64 = 500_000_000

    /// The retries a client announced.
    final class RetryLog: Sendable {
        private let list = Mutex<[CognitoClient.Retry]>([])
        func append(_ retry: CognitoClient.Retry) { list.withLock { $0.append(retry) } }
        var retries: [CognitoClient.Retry] { list.withLock { $0 } }
    }

    func client(_ endpoint: String, log: RetryLog = RetryLog()) throws -> CognitoClient {
        CognitoClient(
            endpoint: try HTTPURL(endpoint), region: "us-east-1", http: ControlPlaneClientForTests.shared,
            credentials: nil, retryPolicy: RetryPolicy(attemptTimeout: Self.attemptTimeout, random: { 0 }),
            onRetry: log.append)
    }

    func signUp(_ client: CognitoClient, deadlineIn seconds: Double = 30) async -> Result<
        CognitoClient.SignUpResult, CognitoError
    > {
        let deadline = SystemClock.monotonicNanoseconds() + UInt64(seconds * 1e9)
        return await withCheckedContinuation { continuation in
            client.signUp(
                clientID: "client", username: "dana", password: "Correct-Horse-9", secretHash: nil, deadline: deadline
            ) { continuation.resume(returning: $0) }
        }
    }

    @Test func throttledTwiceThenTheAnswer() async throws {
        let cognito = try ScriptedCognito(script: ["SignUp": ["throttle", "throttle"]])
        let log = RetryLog()
        let result = await signUp(try client(cognito.endpoint, log: log))
        #expect(throws: Never.self) { try result.get() }
        #expect(try cognito.requests().map(\.step) == ["throttle", "throttle", "ok"])
        #expect(log.retries.map(\.attempt) == [1, 2])
        #expect(log.retries.allSatisfy { $0.operation == "SignUp" && $0.error.code == .tooManyRequests })
    }

    @Test func fiveHundredsOutlastTheThreeAttempts() async throws {
        let cognito = try ScriptedCognito(script: ["SignUp": ["500", "503", "502", "ok"]])
        let result = await signUp(try client(cognito.endpoint))
        guard case .failure(let error) = result else {
            Issue.record("the fourth answer was reached")
            return
        }
        #expect(error.httpStatus == 502 && error.attempts == 3)
        #expect(error.description == "Cognito unavailable: status 502 (after 3 attempts)")
        #expect(try cognito.requests().count == 3)
    }

    @Test func anAnswerThatWillNotChangeIsNotAskedAgain() async throws {
        let cognito = try ScriptedCognito(script: ["SignUp": ["501"]])
        let result = await signUp(try client(cognito.endpoint))
        guard case .failure(let error) = result else {
            Issue.record("a 501 was taken as an answer")
            return
        }
        #expect(error.httpStatus == 501 && error.attempts == 1)
        #expect(try cognito.requests().count == 1)
    }

    @Test func aDroppedConnectionAndARefusedOneAreRetried() async throws {
        let cognito = try ScriptedCognito(script: ["SignUp": ["close"]])
        let dropped = await signUp(try client(cognito.endpoint))
        #expect(throws: Never.self) { try dropped.get() }
        #expect(try cognito.requests().map(\.step) == ["close", "ok"])

        let nobody = try FixtureServer.freePort()
        let log = RetryLog()
        let refused = await signUp(try client("http://127.0.0.1:\(nobody)", log: log))
        guard case .failure(let error) = refused else {
            Issue.record("a closed port answered")
            return
        }
        #expect(error.transferFailure == .transport && error.attempts == 3)
        #expect(log.retries.count == 2)
    }

    /// The answer to a SignUp that reached Cognito comes too late; the retry is told UsernameExists, which the
    /// sign-in flow reads as "go on and authenticate".
    @Test func aTimedOutSignUpIsRetriedAndFindsItsOwnUser() async throws {
        let cognito = try ScriptedCognito(script: ["SignUp": ["slow:2"]])
        let result = await signUp(try client(cognito.endpoint))
        guard case .failure(let error) = result else {
            Issue.record("the slow answer was read")
            return
        }
        #expect(error.code == .usernameExists && error.attempts == 2)
        #expect(try cognito.isConfirmed("dana") == false, "the first attempt did sign the user up")
    }

    @Test func noRetryStartsThatCannotFinishBeforeTheDeadline() async throws {
        // The first attempt times out at 0.5 s; a second would end at 1 s, past the deadline at 0.8 s.
        let cognito = try ScriptedCognito(script: ["SignUp": ["slow:3", "slow:3"]])
        let result = await signUp(try client(cognito.endpoint), deadlineIn: 0.8)
        guard case .failure(let error) = result else {
            Issue.record("the slow answer was read")
            return
        }
        #expect(error.transferFailure == .timeout && error.attempts == 1)
        #expect(try cognito.requests().count == 1)

        let late = await signUp(try client(cognito.endpoint), deadlineIn: 0)
        #expect(throws: CognitoError.deadlinePassed()) { try late.get() }
        #expect(try cognito.requests().count == 1, "a call whose deadline passed sends nothing")
    }

    @Test func everyOperationIsRetried() async throws {
        let cognito = try ScriptedCognito(script: [
            "AdminConfirmSignUp": ["503"], "InitiateAuth:REFRESH_TOKEN_AUTH": ["throttle"],
        ])
        let client = try client(cognito.endpoint)
        _ = await signUp(client)
        let deadline = SystemClock.monotonicNanoseconds() + 30 * 1_000_000_000
        let signed = CognitoClient(
            endpoint: client.endpoint, region: "us-east-1", http: client.http,
            credentials: CredentialProvider(
                environment: ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"],
                client: client.http),
            retryPolicy: client.retryPolicy)
        let confirmed = await withCheckedContinuation { continuation in
            signed.adminConfirmSignUp(userPoolID: "us-east-1_Pool", username: "dana", deadline: deadline) {
                continuation.resume(returning: $0)
            }
        }
        #expect(throws: Never.self) { try confirmed.get() }
        let refreshed = await withCheckedContinuation { continuation in
            client.refresh(
                userPoolID: nil, clientID: "client", refreshToken: "refresh-unknown", secretHash: nil,
                deadline: deadline
            ) { continuation.resume(returning: $0) }
        }
        guard case .failure(let error) = refreshed else {
            Issue.record("an unknown refresh token was taken")
            return
        }
        #expect(error.code == .notAuthorized && error.attempts == 2, "throttled once, then Cognito's real answer")
        #expect(
            try cognito.operations() == [
                "SignUp", "AdminConfirmSignUp", "AdminConfirmSignUp", "InitiateAuth:REFRESH_TOKEN_AUTH",
                "InitiateAuth:REFRESH_TOKEN_AUTH",
            ])
    }
}
