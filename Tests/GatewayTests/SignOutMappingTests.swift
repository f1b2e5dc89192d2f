import AWS
import HTTP1
import JWT
import Logging
import Testing

@testable import Gateway

/// /signout's and /revoke's answers for what moto never sends, and their tables.
@Suite struct SignOutMappingTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test func globalSignOutAnswersMapToOutcomes() {
        let cases: [(Result<Void, CognitoError>, SignOutService.SignOutOutcome)] = [
            (.success(()), .signedOut),
            (
                .failure(CognitoError(exceptionName: "NotAuthorizedException", message: "eyJ.the.token")),
                .refusedByCognito("NotAuthorizedException")
            ),
            (.failure(CognitoError(exceptionName: "TooManyRequestsException", message: "")), .throttled),
            (.failure(CognitoError(exceptionName: "LimitExceededException", message: "")), .throttled),
            (
                .failure(CognitoError(exceptionName: "InternalErrorException", message: "eyJ.the.token")),
                .unavailable("InternalErrorException")
            ),
            (.failure(.serverError(status: 503)), .unavailable("Cognito unavailable: status 503")),
        ]
        for (result, expected) in cases {
            #expect(SignOutService.outcome(of: result, logger: logger) == expected, "\(result)")
        }
    }

    @Test func answersFollowTheTable() {
        let success = SignOutService.response(for: .signedOut)
        #expect(success.status == .ok && String(decoding: success.body, as: UTF8.self) == #"{"status":"success"}"#)
        for outcome: SignOutService.SignOutOutcome in [.invalidToken(.revoked), .refusedByCognito("x")] {
            let response = SignOutService.response(for: outcome)
            #expect(response.status == .unauthorized)
            #expect(String(decoding: response.body, as: UTF8.self) == #"{"message":"Unauthorized"}"#)
            #expect(response.headers.contains { $0 == ("WWW-Authenticate", "Bearer") })
        }
        #expect(SignOutService.response(for: .invalidToken(.noSigningKeys)).status == .serviceUnavailable)
        let notPost = SignOutService.response(for: .methodNotAllowed)
        #expect(notPost.status == .methodNotAllowed && notPost.headers.contains { $0 == ("Allow", "POST") })
        #expect(SignOutService.response(for: .throttled).status == .tooManyRequests)
        let failed = SignOutService.response(for: .unavailable("status 503"))
        #expect(failed.status == .badGateway)
        #expect(String(decoding: failed.body, as: UTF8.self) == #"{"status":"fail","msg":"Unknown error"}"#)
    }

    @Test(arguments: [
        ("", "body is not JSON"),
        ("[]", "body must be a JSON object"),
        (#"{"user":"a"}"#, "sub is missing"),
        (#"{"sub":7}"#, "sub must be a string"),
        (#"{"sub":null}"#, "sub must be a string"),
        (#"{"sub":""}"#, "sub must not be empty"),
        (#"{"sub":"a\nb"}"#, "sub is not a token's sub (at most 1 KiB, no control characters)"),
        (#"{"sub":"a","sub":"b"}"#, "body is not JSON"),
    ])
    func revokeBodiesWithoutAUsableSubAreRefused(body: String, problem: String) {
        #expect(AdminHandler.parseSubject(Array(body.utf8)) == .failure(.init(message: problem)))
    }

    @Test func revokeBodyGivesItsSub() {
        #expect(
            AdminHandler.parseSubject(Array(#"{"sub":"11111111-2222","note":1}"#.utf8)) == .success("11111111-2222"))
        let long = String(repeating: "s", count: 1025)
        #expect(AdminHandler.parseSubject(Array(#"{"sub":"\#(long)"}"#.utf8)) != .success(long))
    }
}
