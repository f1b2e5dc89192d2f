import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// POST /signout and the admin POST /revoke against moto as the user pool (moto 5.2 implements GlobalSignOut
/// and ends the user's refresh tokens), with a route that takes ID and access tokens alike.
@Suite(.serialized) struct SignOutTests {
    struct Tokens {
        let id: String
        let access: String
        let refresh: String
        let sub: String
    }

    func signIn(_ gateway: RunningGateway, _ username: String) throws -> Tokens {
        let body = #"{"username":"\#(username)","password":"Correct-Horse-9"}"#
        let response = try RawClient(port: gateway.publicPort).exchange(
            "POST /signin HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        return Tokens(
            id: try #require(json["id_token"] as? String), access: try #require(json["access_token"] as? String),
            refresh: try #require(json["refresh_token"] as? String), sub: try #require(json["user_id"] as? String))
    }

    func post(_ port: UInt16, _ path: String, token: String? = nil, body: String = "", method: String = "POST")
        throws -> RawResponse
    {
        let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        return try RawClient(port: port).exchange(
            "\(method) \(path) HTTP/1.1\r\nHost: a\r\n\(authorization)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
    }

    func metric(_ gateway: RunningGateway, _ series: String) throws -> Double? {
        let text = try RawClient(port: gateway.adminPort).exchange("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        return text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { Double($0.split(separator: " ").last!) }
    }

    /// Waits, watching the clock, until its whole second is past `instant`'s.
    func waitForTheSecondAfter(_ instant: Double) {
        let next = instant.rounded(.down) + 1
        while Date().timeIntervalSince1970 < next { usleep(5_000) }
    }

    func gateway(_ moto: MotoServer, _ pool: MotoServer.Pool, upstream: FixtureServer) throws -> RunningGateway {
        try RunningGateway(
            extra: """
                [[route]]
                prefix = "/api"
                upstream = "\(upstream.url)/upstream"
                """,
            cognito: SignInClient.cognitoSection(pool, moto) + "\ntoken_use = \"any\"",
            environment: SignInClient.awsEnvironment
        )
    }

    @Test func signOutRefusesTheUsersOlderTokensEndsTheRefreshTokenAndANewSignInWorks() throws {
        let moto = try MotoServer()
        let upstream = try FixtureServer()
        let pool = try moto.createPool()
        let gateway = try gateway(moto, pool, upstream: upstream)
        #expect(try waitUntilReady(gateway))

        let old = try signIn(gateway, "dana")
        // Both open the route, and both are now in the verified-token cache.
        #expect(try gateway.status("/api/me", token: old.id) == 200)
        #expect(try gateway.status("/api/me", token: old.access) == 200)
        #expect(try moto.refresh(pool: pool, refreshToken: old.refresh) == "ok")

        // Only an access token signs out, and only a valid one.
        let withID = try post(gateway.publicPort, "/signout", token: old.id)
        #expect(withID.status == 401)
        #expect(withID.bodyText == #"{"message":"Unauthorized"}"#)
        #expect(withID.header("WWW-Authenticate") == "Bearer")
        #expect(try post(gateway.publicPort, "/signout").status == 401)
        let notPost = try post(gateway.publicPort, "/signout", token: old.access, method: "GET")
        #expect(notPost.status == 405 && notPost.header("Allow") == "POST")
        #expect(try gateway.status("/api/me", token: old.id) == 200, "none of these signed anyone out")

        let signedOut = try post(gateway.publicPort, "/signout", token: old.access)
        let signedOutAt = Date().timeIntervalSince1970
        #expect(signedOut.status == 200)
        #expect(signedOut.bodyText == #"{"status":"success"}"#)

        // Cached and still cryptographically valid, both are refused from now on.
        let hitsBefore = try metric(gateway, "authgate_token_cache_hits_total") ?? 0
        for token in [old.id, old.access] {
            let refused = try post(gateway.publicPort, "/api/me", token: token, method: "GET")
            #expect(refused.status == 401)
            #expect(refused.bodyText == #"{"message":"Unauthorized"}"#)
        }
        #expect(try metric(gateway, "authgate_token_cache_hits_total") == hitsBefore + 2, "both came from the cache")
        #expect(try metric(gateway, #"authgate_authorization_failures_total{reason="revoked"}"#) == 2)
        #expect(try metric(gateway, #"authgate_signouts_total{result="ok"}"#) == 1)
        #expect(try metric(gateway, "authgate_revocations") == 1)
        #expect(try post(gateway.publicPort, "/signout", token: old.access).status == 401, "already signed out")
        #expect(try moto.refresh(pool: pool, refreshToken: old.refresh) == "NotAuthorizedException")

        // A sign-in in the sign-out's own second would get tokens refused like the old ones: wait for the next.
        waitForTheSecondAfter(signedOutAt)
        let new = try signIn(gateway, "dana")
        #expect(new.sub == old.sub)
        #expect(try gateway.status("/api/me", token: new.id) == 200)
        #expect(try gateway.status("/api/me", token: new.access) == 200)
        #expect(try gateway.status("/api/me", token: old.id) == 401)

        #expect(gateway.waitForLog(#""auth":"revoked""#, count: 2))
        #expect(gateway.waitForLog(#""auth":"signout: ok""#))
        let log = gateway.log
        #expect(log.contains(#""path":"/signout","route":"/signout","status":200"#))
        #expect(!log.contains(old.access) && !log.contains(old.id) && !log.contains(old.refresh), "no token logged")
    }

    @Test func anOperatorRevokesAUserOnTheAdminListenerAndItOutlivesAReload() throws {
        let moto = try MotoServer()
        let upstream = try FixtureServer()
        let pool = try moto.createPool()
        let gateway = try gateway(moto, pool, upstream: upstream)
        #expect(try waitUntilReady(gateway))
        let tokens = try signIn(gateway, "erin")
        #expect(try gateway.status("/api/me", token: tokens.id) == 200)

        for (body, problem) in [
            ("", "body is not JSON"), (#"{"sub":""}"#, "sub must not be empty"),
            (#"{"sub":1}"#, "sub must be a string"),
            (#"{"user":"x"}"#, "sub is missing"),
        ] {
            let refused = try post(gateway.adminPort, "/revoke", body: body)
            #expect(refused.status == 400, "\(body)")
            #expect(refused.bodyText == #"{"status":"fail","msg":"\#(problem)"}"#)
        }
        let notPost = try post(gateway.adminPort, "/revoke", method: "GET")
        #expect(notPost.status == 405 && notPost.header("Allow") == "POST")
        let tooLarge = try post(
            gateway.adminPort, "/revoke", body: #"{"sub":"\#(String(repeating: "s", count: 5000))"}"#)
        #expect(tooLarge.status == 413)
        #expect(try post(gateway.publicPort, "/revoke", body: #"{"sub":"\#(tokens.sub)"}"#).status == 404, "admin only")
        #expect(try gateway.status("/api/me", token: tokens.id) == 200, "nothing was revoked yet")

        let revoked = try post(gateway.adminPort, "/revoke", body: #"{"sub":"\#(tokens.sub)"}"#)
        #expect(revoked.status == 200)
        #expect(revoked.bodyText == #"{"status":"success"}"#)
        #expect(try gateway.status("/api/me", token: tokens.id) == 401)
        #expect(try gateway.status("/api/me", token: tokens.access) == 401)
        #expect(gateway.waitForLog(#""sub":"\#(tokens.sub)","auth":"revoke: ok""#))

        // A reload that brings a new authorizer (another clock_skew) keeps the gateway's revocations.
        try gateway.rewriteConfig {
            $0.replacingOccurrences(of: "token_use = \"any\"", with: "token_use = \"any\"\nclock_skew = \"30s\"")
        }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reloaded"))
        #expect(try gateway.status("/api/me", token: tokens.id) == 401)
        #expect(try metric(gateway, "authgate_revocations") == 1)
    }
}
