import Foundation
import TestSupport
import Testing

/// POST /refresh against moto as the user pool. moto checks SECRET_HASH on InitiateAuth's REFRESH_TOKEN_AUTH
/// (not on AdminInitiateAuth's), and revokes refresh tokens on AdminUserGlobalSignOut.
@Suite(.serialized) struct RefreshTests {
    typealias Client = SignInClient

    @Test func aRefreshTokenGivesNewTokensUntilTheUserIsSignedOut() throws {
        let moto = try MotoServer()
        let upstream = try FixtureServer()
        let pool = try moto.createPool(clientSecret: true)
        let gateway = try RunningGateway(
            extra: """
                [[route]]
                prefix = "/api"
                upstream = "\(upstream.url)/upstream"
                """,
            cognito: Client.cognitoSection(pool, moto),
            environment: Client.awsEnvironment.merging(["AUTHGATE_CLIENT_SECRET": pool.clientSecret]) { $1 }
        )
        #expect(try waitUntilReady(gateway))
        let signedIn = try Client.post(gateway, "/signin", Client.credentials("dana"))
        let refreshToken = try #require(signedIn.json["refresh_token"] as? String)
        let userID = try #require(signedIn.json["user_id"] as? String)

        let refreshed = try Client.post(gateway, "/refresh", Client.refresh(refreshToken, username: "dana"))
        #expect(refreshed.status == 200)
        #expect(refreshed.json["status"] as? String == "success")
        #expect(refreshed.json["expires_in"] as? Int == 3600)
        #expect(refreshed.json["refresh_token"] == nil && refreshed.json["user_id"] == nil)
        #expect(refreshed.response.header("Cache-Control") == "no-store")
        let idToken = try #require(refreshed.json["id_token"] as? String)
        let accessToken = try #require(refreshed.json["access_token"] as? String)
        #expect(idToken != signedIn.json["id_token"] as? String, "new tokens, not the sign-in's again")
        #expect(Client.subject(of: idToken) == userID && Client.subject(of: accessToken) == userID)
        #expect(try gateway.status("/api/me", token: idToken) == 200, "the new ID token opens the route")

        let noUsername = try Client.post(gateway, "/refresh", Client.refresh(refreshToken))
        #expect(noUsername.status == 400)
        #expect(noUsername.message == "username is missing", "the client has a secret: SECRET_HASH needs it")

        try moto.globalSignOut(pool: pool, username: "dana")
        let revoked = try Client.post(gateway, "/refresh", Client.refresh(refreshToken, username: "dana"))
        #expect(revoked.status == 401)
        #expect(revoked.json["status"] as? String == "fail" && revoked.message == "The refresh token is invalid")

        #expect(gateway.waitForLog("refresh: refreshed") && gateway.waitForLog("refresh: invalid_refresh_token"))
        #expect(try Client.metric(gateway, #"authgate_refreshes_total{result="refreshed"}"#) == 1)
        #expect(try Client.metric(gateway, #"authgate_refreshes_total{result="invalid_refresh_token"}"#) == 1)
        #expect(try Client.metric(gateway, #"authgate_requests_total{route="/refresh",status="200"}"#) == 1)
        let log = gateway.log
        #expect(!log.contains(refreshToken) && !log.contains(idToken), "no token reaches the log")
        #expect(!log.contains(pool.clientSecret))
    }

    @Test func theSecretHashIsMadeFromTheBodysUsername() throws {
        let moto = try MotoServer()
        let pool = try moto.createPool(clientSecret: true)
        let gateway = try RunningGateway(
            extra: "[signin]\nauth_flow = \"user_password\"\n", cognito: Client.cognitoSection(pool, moto),
            environment: Client.awsEnvironment.merging(["AUTHGATE_CLIENT_SECRET": pool.clientSecret]) { $1 }
        )
        let signedIn = try Client.post(gateway, "/signin", Client.credentials("erin"))
        let refreshToken = try #require(signedIn.json["refresh_token"] as? String)
        let refreshed = try Client.post(gateway, "/refresh", Client.refresh(refreshToken, username: "erin"))
        #expect(refreshed.status == 200 && refreshed.json["id_token"] is String)
        let otherName = try Client.post(gateway, "/refresh", Client.refresh(refreshToken, username: "someone"))
        #expect(otherName.status == 401, "the SECRET_HASH of another username does not verify")
        #expect(otherName.message == "The refresh token is invalid")
    }

    @Test func aPublicClientNeedsNoUsernameAndBadInputIsRefused() throws {
        let moto = try MotoServer()
        let pool = try moto.createPool()
        let gateway = try RunningGateway(
            extra: "[signin]\nauth_flow = \"user_password\"\nmax_body_bytes = 256\n",
            cognito: Client.cognitoSection(pool, moto), environment: Client.awsEnvironment
        )
        let signedIn = try Client.post(gateway, "/signin", Client.credentials("frank"))
        let refreshToken = try #require(signedIn.json["refresh_token"] as? String)
        let refreshed = try Client.post(gateway, "/refresh", Client.refresh(refreshToken))
        #expect(refreshed.status == 200 && refreshed.json["access_token"] is String)

        let unknown = try Client.post(gateway, "/refresh", Client.refresh("not-a-refresh-token"))
        #expect(unknown.status == 401)
        #expect(unknown.message == "The refresh token is invalid")

        for (body, message) in [
            ("nope", "body is not JSON"),
            (#"{"username":"frank"}"#, "refresh_token is missing"),
            (#"{"refresh_token":17}"#, "refresh_token must be a string"),
            (#"{"refresh_token":"a\tb"}"#, "refresh_token must be printable ASCII without spaces"),
            (#"{"refresh_token":"abc","username":""}"#, "username must not be empty"),
        ] {
            let answer = try Client.post(gateway, "/refresh", body)
            #expect(answer.status == 400, "\(body)")
            #expect(answer.message == message, "\(body)")
        }
        let get = try Client.post(gateway, "/refresh", "", method: "GET")
        #expect(get.status == 405 && get.response.header("Allow") == "POST")
        let large = try Client.post(gateway, "/refresh", Client.refresh(String(repeating: "t", count: 300)))
        #expect(large.status == 413)
    }

    @Test func refreshAndSignInShareOneRateLimit() throws {
        let gateway = try RunningGateway(extra: "[signin]\nrate_limit = \"3/m\"\n")
        #expect(try Client.post(gateway, "/signin", "x").status == 400)
        #expect(try Client.post(gateway, "/refresh", "x").status == 400)
        #expect(try Client.post(gateway, "/signin", "x").status == 400)
        let limited = try Client.post(gateway, "/refresh", "x")
        #expect(limited.status == 429, "the fourth attempt of the address, whichever path")
        #expect(limited.message == "Too many requests" && limited.response.header("Retry-After") != nil)
        #expect(try Client.post(gateway, "/signin", "x").status == 429)
        #expect(try Client.metric(gateway, #"authgate_refreshes_total{result="rate_limited"}"#) == 1)
    }

    @Test func theRefreshPathMovesOrIsTurnedOff() throws {
        let off = try RunningGateway(extra: "[signin]\nrefresh_path = \"\"\n")
        let notFound = try Client.post(off, "/refresh", Client.refresh("abc"))
        #expect(notFound.status == 404 && notFound.response.bodyText == #"{"message":"Not Found"}"#)
        let moved = try RunningGateway(extra: "[signin]\nrefresh_path = \"/auth/refresh\"\n")
        #expect(try Client.post(moved, "/auth/refresh", "", method: "GET").status == 405)
        #expect(try Client.post(moved, "/refresh", Client.refresh("abc")).status == 404)
    }
}
