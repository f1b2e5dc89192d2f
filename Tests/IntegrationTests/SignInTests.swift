import Encoding
import Foundation
import JWT
import TestSupport
import Testing

/// POST /signin against moto as the user pool. moto checks neither SigV4 nor SECRET_HASH and lets unconfirmed
/// users sign in: the AWSTests prove those parts against the published vectors.
@Suite(.serialized) struct SignInTests {
    static let password = "Correct-Horse-9"

    struct Answer {
        let status: Int
        let json: [String: Any]
        let response: RawResponse
        var message: String? { json["msg"] as? String }
    }

    func signIn(_ gateway: RunningGateway, body: String, method: String = "POST", path: String = "/signin") throws
        -> Answer
    {
        let response = try RawClient(port: gateway.publicPort).exchange(
            "\(method) \(path) HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return Answer(status: response.status, json: json, response: response)
    }

    func credentials(_ username: String, _ password: String = SignInTests.password) -> String {
        #"{"username":"\#(username)","password":"\#(password)"}"#
    }

    @Test func newUserThenExistingUserThenWrongPasswordAndTheTokenOpensARoute() throws {
        let moto = try MotoServer()
        let upstream = try FixtureServer()
        let pool = try moto.createPool(clientSecret: true)
        let gateway = try RunningGateway(
            extra: """
                [[route]]
                prefix = "/api"
                upstream = "\(upstream.url)/upstream"
                """,
            cognito: SignInClient.cognitoSection(pool, moto),
            environment: SignInClient.awsEnvironment.merging(["AUTHGATE_CLIENT_SECRET": pool.clientSecret]) { $1 }
        )
        #expect(try waitUntilReady(gateway))

        let first = try signIn(gateway, body: credentials("dana"))
        #expect(first.status == 200)
        #expect(first.json["status"] as? String == "success")
        #expect(first.json["is_new"] as? String == "true", "is_new is the string the seed returns")
        #expect(first.json["expires_in"] as? Int == 3600)
        #expect(first.response.header("Cache-Control") == "no-store")
        let idToken = try #require(first.json["id_token"] as? String)
        #expect(first.json["access_token"] is String && first.json["refresh_token"] is String)
        let payload = try #require(Base64URL.decode(idToken.split(separator: ".")[1].utf8))
        let claims = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
        let userID = try #require(first.json["user_id"] as? String)
        #expect(userID == claims["sub"] as? String)

        #expect(
            try moto.userStatus(pool: pool, username: "dana") == "CONFIRMED", "auto_confirm sent AdminConfirmSignUp")

        let second = try signIn(gateway, body: credentials("dana"))
        #expect(second.status == 200)
        #expect(second.json["is_new"] as? String == "false")
        #expect(second.json["user_id"] as? String == userID)

        let wrong = try signIn(gateway, body: credentials("dana", "Wrong-Horse-9"))
        #expect(wrong.status == 401)
        #expect(wrong.json["status"] as? String == "fail")
        #expect(wrong.message == "The username or password is incorrect")
        #expect(wrong.json["id_token"] == nil)

        let allowed = try RawClient(port: gateway.publicPort).exchange(
            "GET /api/me HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(idToken)\r\n\r\n"
        )
        #expect(allowed.status == 200)
        let echo = try #require(try JSONSerialization.jsonObject(with: Data(allowed.body)) as? [String: Any])
        let seen = (echo["headers"] as? [[String]] ?? []).filter { $0[0].lowercased() == "x-auth-sub" }.map { $0[1] }
        #expect(seen == [userID])
        #expect(
            try RawClient(port: gateway.publicPort).exchange("GET /api/me HTTP/1.1\r\nHost: a\r\n\r\n").status == 401)

        // Access lines are written after the answer, once the loop's burst is done.
        #expect(gateway.waitForLog("signin: signed_up") && gateway.waitForLog("signin: wrong_credentials"))
        let log = gateway.log
        #expect(!log.contains(Self.password) && !log.contains("Wrong-Horse-9"), "passwords are never logged")
        #expect(!log.contains(idToken) && !log.contains(pool.clientSecret), "tokens and the secret are never logged")
    }

    @Test func refusalsFollowTheTable() throws {
        let moto = try MotoServer()
        let pool = try moto.createPool()
        let gateway = try RunningGateway(
            extra: """
                [signin]
                rate_limit = "12/m"
                max_body_bytes = 256
                """,
            cognito: SignInClient.cognitoSection(pool, moto), environment: SignInClient.awsEnvironment
        )
        let policy = try signIn(gateway, body: credentials("erin", "short"))
        #expect(policy.status == 400)
        #expect(policy.message?.hasPrefix("failed to sign up: ") == true, "\(policy.json)")

        let badBodies: [(String, String)] = [
            ("not json", "body is not JSON"),
            (#"["erin"]"#, "body must be a JSON object"),
            (#"{"password":"x"}"#, "username is missing"),
            (#"{"username":"erin"}"#, "password is missing"),
            (#"{"username":7,"password":"x"}"#, "username must be a string"),
            (#"{"username":"","password":"x"}"#, "username must not be empty"),
            (
                #"{"username":"\#(String(repeating: "u", count: 129))","password":"x"}"#,
                "username is longer than 128 characters"
            ),
            (#"{"username":"a","username":"b","password":"x"}"#, "body is not JSON"),
        ]
        for (body, message) in badBodies {
            let answer = try signIn(gateway, body: body)
            #expect(answer.status == 400, "\(body)")
            #expect(answer.message == message, "\(body)")
        }
        let get = try signIn(gateway, body: "", method: "GET")
        #expect(get.status == 405)
        #expect(get.response.header("Allow") == "POST")
        let large = try signIn(
            gateway, body: #"{"username":"erin","password":"\#(String(repeating: "p", count: 300))"}"#)
        #expect(large.status == 413)

        // 12 per minute: the 10 attempts above took 10 (GET is refused before counting); two more pass, then 429.
        #expect(try signIn(gateway, body: "x").status == 400)
        #expect(try signIn(gateway, body: "x").status == 400)
        let limited = try signIn(gateway, body: credentials("erin"))
        #expect(limited.status == 429)
        #expect(limited.message == "Too many requests")
        #expect(Int(limited.response.header("Retry-After") ?? "") ?? 0 >= 1)
    }

    @Test func signUpOffUserPasswordFlowAndChallenges() throws {
        let moto = try MotoServer()
        let pool = try moto.createPool(user: "frank", forceChangeUser: "gina")
        // A public app client (no secret) and the unsigned USER_PASSWORD_AUTH: no AWS credentials needed.
        let gateway = try RunningGateway(
            extra: """
                [signin]
                sign_up = false
                auth_flow = "user_password"
                """,
            cognito: SignInClient.cognitoSection(pool, moto), environment: ["AWS_EC2_METADATA_DISABLED": "true"]
        )
        let known = try signIn(gateway, body: credentials("frank"))
        #expect(known.status == 200)
        #expect(known.json["is_new"] as? String == "false")
        let unknown = try signIn(gateway, body: credentials("nobody"))
        #expect(unknown.status == 401)
        #expect(unknown.message == "The username or password is incorrect")
        let challenged = try signIn(gateway, body: credentials("gina"))
        #expect(challenged.status == 401)
        #expect(challenged.message == "challenge required: NEW_PASSWORD_REQUIRED")
    }

    @Test func withoutAutoConfirmTheNewUserStaysUnconfirmed() throws {
        let moto = try MotoServer()
        let pool = try moto.createPool()
        let gateway = try RunningGateway(
            extra: "[signin]\nauto_confirm = false\n", cognito: SignInClient.cognitoSection(pool, moto),
            environment: SignInClient.awsEnvironment
        )
        // moto lets unconfirmed users sign in (Cognito answers 403 "User is not confirmed"; see SignInMappingTests).
        let answer = try signIn(gateway, body: credentials("ivy"))
        #expect(answer.json["is_new"] as? String == "true")
        #expect(try moto.userStatus(pool: pool, username: "ivy") == "UNCONFIRMED")
    }

    @Test func cognitoUnreachableIsABadGateway() throws {
        let gateway = try RunningGateway(environment: SignInClient.awsEnvironment)
        let answer = try signIn(gateway, body: credentials("hal"))
        #expect(answer.status == 502)
        #expect(answer.message == "Unknown error")
        let disabled = try RunningGateway(extra: "[signin]\nenabled = false\n")
        #expect(try signIn(disabled, body: credentials("hal")).status == 404)
    }
}
