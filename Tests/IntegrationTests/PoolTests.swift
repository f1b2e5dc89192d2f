import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

private let secondPoolID = "us-east-1_Second"
private let secondIssuer = "https://cognito-idp.us-east-1.amazonaws.com/\(secondPoolID)"

/// Claims of a token of the second pool (the first is TestSigner's, `us-east-1_Test`).
private func secondPoolClaims(_ change: (inout [String: Any]) -> Void = { _ in }) -> [String: Any] {
    TestSigner.claims {
        $0["iss"] = secondIssuer
        $0["aud"] = "secondclient"
        change(&$0)
    }
}

private func secondPool(jwksURL: String) -> String {
    """

    [[cognito.pool]]
    user_pool_id = "\(secondPoolID)"
    client_ids = ["secondclient"]
    jwks_url = "\(jwksURL)"
    """
}

/// /both (every pool), /first and /second (one pool each), all to `upstream`'s echo.
private func poolRoutes(upstream: String, first: String, second: String) -> String {
    """
    [[route]]
    prefix = "/both"
    upstream = "\(upstream)/upstream"
    [[route]]
    prefix = "/first"
    upstream = "\(upstream)/upstream"
    pools = ["\(first)"]
    [[route]]
    prefix = "/second"
    upstream = "\(upstream)/upstream"
    pools = ["\(second)"]
    """
}

/// A gateway with two pools, each with a JWKS server of its own (kids "first" and "second"), on `poolRoutes`.
private func twoPoolGateway() throws -> (
    firstSigner: TestSigner, secondSigner: TestSigner, first: FixtureServer, second: FixtureServer,
    gateway: RunningGateway
) {
    let firstSigner = TestSigner(keyID: "first")
    let secondSigner = TestSigner(keyID: "second")
    let first = try FixtureServer(jwks: TestSigner.jwks([firstSigner]))
    let second = try FixtureServer(jwks: TestSigner.jwks([secondSigner]))
    let gateway = try RunningGateway(
        extra: poolRoutes(upstream: first.url, first: "us-east-1_Test", second: secondPoolID),
        cognito: cognitoBlock(jwksURL: first.url + "/jwks.json") + secondPool(jwksURL: second.url + "/jwks.json"))
    return (firstSigner, secondSigner, first, second, gateway)
}

private func readiness(_ gateway: RunningGateway) throws -> RawResponse {
    try RawClient(port: gateway.adminPort).exchange("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n")
}

/// Several user pools (`[[cognito.pool]]`): each token is checked with its own pool's keys and rules, each
/// pool's JWKS lives on its own, and a route's `pools` restricts it.
@Suite(.serialized) struct PoolTests {
    /// Real tokens of two moto pools. moto signs every pool's tokens with one key ("dummy"), so the case of
    /// a token signed with the other pool's key is `aTokenIsCheckedWithItsOwnPoolsKeysOnly`'s, on keys of our own.
    /// The second pool's endpoint is a scripted Cognito (its keys are still moto's), so that a sign-out shows
    /// which pool's endpoint it went to.
    @Test func motoTokensOfTwoPoolsOpenTheRoutesOfTheirPool() throws {
        let moto = try MotoServer()
        let secondEndpoint = try ScriptedCognito()
        let upstream = try FixtureServer()
        let first = try moto.createPool(user: "alice")
        let second = try moto.createPool(user: "bob")
        let firstToken = try #require(first.idToken)
        let secondToken = try #require(second.idToken)
        let gateway = try RunningGateway(
            extra: poolRoutes(upstream: upstream.url, first: first.userPoolID, second: second.userPoolID),
            cognito: SignInClient.cognitoSection(first, moto) + """

                token_use = "any"
                [[cognito.pool]]
                user_pool_id = "\(second.userPoolID)"
                client_ids = ["\(second.clientID)"]
                endpoint_url = "\(secondEndpoint.endpoint)"
                jwks_url = "\(moto.endpoint)/\(second.userPoolID)/.well-known/jwks.json"
                token_use = "any"
                """,
            environment: SignInClient.awsEnvironment
        )
        #expect(try waitUntilReady(gateway))
        for (token, own, other) in [(firstToken, "/first", "/second"), (secondToken, "/second", "/first")] {
            #expect(try gateway.status("/both", token: token) == 200)
            #expect(try gateway.status(own, token: token) == 200)
            #expect(try gateway.status(other, token: token) == 401, "\(own)'s token on \(other)")
            // Now from the verified-token cache: the restriction holds there too.
            #expect(try gateway.status(other, token: token) == 401)
            #expect(try gateway.status(own, token: token) == 200)
        }
        #expect(gateway.log.contains("pool not accepted on this route"))

        // verify-token fetches both pools' keys and says which accepted the token.
        for (token, pool) in [(firstToken, first), (secondToken, second)] {
            let verified = try runCommand(["verify-token", "--config", gateway.configFile.path, token])
            #expect(verified.status == 0)
            #expect(verified.stderr.contains("accepted by pool \(pool.userPoolID)"), "\(verified.stderr)")
        }
        let stranger = TestSigner(keyID: "dummy").token(TestSigner.claims())
        let refused = try runCommand(["verify-token", "--config", gateway.configFile.path, stranger])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("unknown issuer \"\(TestSigner.issuer)\""), "\(refused.stderr)")
        for pool in [first, second] {
            #expect(refused.stderr.contains("https://cognito-idp.us-east-1.amazonaws.com/\(pool.userPoolID)"))
        }

        // The second pool's access token signs out at that pool's endpoint: its user's tokens are refused from
        // then on, the first pool's are not.
        func signOut(_ accessToken: String) throws -> RawResponse {
            try RawClient(port: gateway.publicPort).exchange(
                "POST /signout HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(accessToken)\r\nContent-Length: 0\r\n\r\n"
            )
        }
        let secondSignOut = try signOut(try #require(second.accessToken))
        #expect(secondSignOut.status == 200, "\(secondSignOut.bodyText)")
        #expect(try secondEndpoint.operations() == ["GlobalSignOut"], "the second pool's endpoint got it")
        #expect(try gateway.status("/both", token: secondToken) == 401)
        #expect(try gateway.status("/both", token: firstToken) == 200)
        // The first pool's goes to its own endpoint, moto.
        let firstSignOut = try signOut(try #require(first.accessToken))
        #expect(firstSignOut.status == 200, "\(firstSignOut.bodyText)")
        #expect(try secondEndpoint.operations() == ["GlobalSignOut"], "nothing more went to the second pool's")
        #expect(try gateway.status("/both", token: firstToken) == 401)
    }

    @Test func aTokenIsCheckedWithItsOwnPoolsKeysOnly() throws {
        // The same kid in both pools: only the iss may say which key verifies.
        let firstSigner = TestSigner(keyID: "shared")
        let secondSigner = TestSigner(keyID: "shared")
        let secondOnly = TestSigner(keyID: "second-only")
        let first = try FixtureServer(jwks: TestSigner.jwks([firstSigner]))
        let second = try FixtureServer(jwks: TestSigner.jwks([secondSigner, secondOnly]))
        let gateway = try RunningGateway(
            extra: poolRoutes(upstream: first.url, first: "us-east-1_Test", second: secondPoolID),
            cognito: cognitoBlock(jwksURL: first.url + "/jwks.json") + secondPool(jwksURL: second.url + "/jwks.json"))
        #expect(try waitUntilReady(gateway))

        #expect(try gateway.status("/both", token: firstSigner.token(TestSigner.claims())) == 200)
        #expect(try gateway.status("/both", token: secondSigner.token(secondPoolClaims())) == 200)
        #expect(try gateway.status("/both", token: secondOnly.token(secondPoolClaims())) == 200)
        // The first pool's iss, signed with the second pool's keys: the same kid, or one only the second has.
        #expect(try gateway.status("/both", token: secondSigner.token(TestSigner.claims())) == 401)
        #expect(gateway.waitForLog("bad signature"))
        #expect(try gateway.status("/both", token: secondOnly.token(TestSigner.claims())) == 401)
        #expect(gateway.waitForLog("unknown kid"))
        // An iss of no configured pool, even signed with a key the gateway holds.
        let stranger = firstSigner.token(TestSigner.claims { $0["iss"] = "https://issuer.example.com/us-east-1_X" })
        #expect(try gateway.status("/both", token: stranger) == 401)
        #expect(gateway.waitForLog("unknown issuer"))
        // Each pool's client ids: the second pool's token for the first pool's client.
        #expect(
            try gateway.status("/both", token: secondSigner.token(secondPoolClaims { $0["aud"] = "testclient" })) == 401
        )
        let check = try runCommand(["check-config", "--config", gateway.configFile.path])
        #expect(check.status == 0)
        #expect(check.stdout.contains("pool: \(secondPoolID) in us-east-1"), "\(check.stdout)")
        #expect(check.stdout.contains("route /second -> \(first.url)/upstream auth=required pools=\(secondPoolID)"))
    }

    /// The second pool's JWKS server dies after the keys were loaded: its held keys still serve, its unknown
    /// kids are refused, and the first pool's tokens are answered as before, from the first pool's keys alone.
    @Test func aPoolWhoseJWKSServerDiesLeavesTheOtherPoolServed() throws {
        let (firstSigner, secondSigner, first, second, gateway) = try twoPoolGateway()
        #expect(try waitUntilReady(gateway))
        second.stop()

        // A kid the second pool never had makes it fetch again, which fails now: until one such fetch was tried.
        let rotated = TestSigner(keyID: "rotated")
        let deadline = Date().addingTimeInterval(10)
        var sub = 0
        while !gateway.log.contains("jwks fetch failed") && Date() < deadline {
            sub += 1
            let token = rotated.token(secondPoolClaims { $0["sub"] = "rotated-\(sub)" })
            #expect(try gateway.status("/both", token: token) == 401)
            usleep(20_000)
        }
        #expect(gateway.log.contains("jwks fetch failed"))
        #expect(try gateway.status("/both", token: secondSigner.token(secondPoolClaims { $0["sub"] = "held" })) == 200)
        #expect(try gateway.status("/both", token: firstSigner.token(TestSigner.claims { $0["sub"] = "fresh" })) == 200)
        #expect(try first.jwksRequests() == 1, "the second pool's refetches never touch the first pool's JWKS")
        let ready = try readiness(gateway)
        #expect(ready.status == 200, "keys are held for both pools: \(ready.bodyText)")
    }

    /// /readyz waits for every pool's keys; meanwhile the pool that has them serves, and the one that has
    /// none answers 503 at once rather than hold a request.
    @Test func readinessWaitsForEveryPoolAndNoPoolWaitsForAnother() throws {
        let firstSigner = TestSigner(keyID: "first")
        let secondSigner = TestSigner(keyID: "second")
        let first = try FixtureServer(jwks: TestSigner.jwks([firstSigner]))
        let secondPort = try freePort()
        let gateway = try RunningGateway(
            extra: poolRoutes(upstream: first.url, first: "us-east-1_Test", second: secondPoolID),
            cognito: cognitoBlock(jwksURL: first.url + "/jwks.json")
                + secondPool(jwksURL: "http://127.0.0.1:\(secondPort)/jwks.json"))

        // Until the first pool's keys are in and the second pool's fetch has failed.
        let deadline = Date().addingTimeInterval(10)
        var ready = try readiness(gateway)
        while Date() < deadline
            && (ready.bodyText.contains("signing_keys:us-east-1_Test") || !ready.bodyText.contains("fetch failed"))
        {
            usleep(50_000)
            ready = try readiness(gateway)
        }
        #expect(ready.status == 503)
        #expect(ready.bodyText.contains("signing_keys:\(secondPoolID)"), "\(ready.bodyText)")
        #expect(!ready.bodyText.contains("signing_keys:us-east-1_Test"), "\(ready.bodyText)")
        #expect(try gateway.status("/both", token: firstSigner.token(TestSigner.claims())) == 200)
        #expect(try gateway.status("/both", token: secondSigner.token(secondPoolClaims())) == 503)

        // The second pool's JWKS comes up: its retry loads it, and the gateway is ready.
        let second = try FixtureServer(jwks: TestSigner.jwks([secondSigner]), port: secondPort)
        #expect(try waitUntilReady(gateway, seconds: 15))
        #expect(try second.jwksRequests() >= 1)
        #expect(try gateway.status("/both", token: secondSigner.token(secondPoolClaims())) == 200)
    }

    /// While a request of the second pool waits for that pool's slow JWKS re-fetch, the first pool's requests,
    /// and the second pool's with a key it holds, are answered: nothing waits on another pool's fetch.
    @Test func aSlowRefetchHoldsOnlyTheRequestThatNeedsIt() throws {
        let (firstSigner, secondSigner, first, second, gateway) = try twoPoolGateway()
        // The first pool's server is also the routes' upstream: it must live to the end.
        defer { withExtendedLifetime(first) {} }
        #expect(try waitUntilReady(gateway))
        // jwks_min_refetch_interval is 1s: past it since the second pool's first fetch, an unknown kid fetches again.
        let loaded = try #require(
            try SignInClient.metric(gateway, #"authgate_jwks_last_success_timestamp_seconds{pool="\#(secondPoolID)"}"#))
        while Date().timeIntervalSince1970 < loaded + 1.5 { usleep(20_000) }
        // The second pool's next answer takes five seconds.
        try second.setJWKS("SLOW" + TestSigner.jwks([secondSigner]))

        let waiting = try RawClient(port: gateway.publicPort, timeoutSeconds: 20)
        let unknownKid = TestSigner(keyID: "rotated").token(secondPoolClaims())
        try waiting.send(
            "GET /both HTTP/1.1\r\nHost: a\r\nX-Request-Id: waiting-for-keys\r\nAuthorization: Bearer \(unknownKid)\r\n\r\n"
        )
        let deadline = Date().addingTimeInterval(10)
        while try second.jwksRequests() < 2 && Date() < deadline { usleep(20_000) }
        #expect(try second.jwksRequests() == 2, "the re-fetch is under way")

        #expect(try gateway.status("/both", token: firstSigner.token(TestSigner.claims())) == 200)
        #expect(try gateway.status("/both", token: secondSigner.token(secondPoolClaims())) == 200)
        #expect(!gateway.log.contains("waiting-for-keys"), "the waiting request is not answered yet")
        #expect(try waiting.readResponse().status == 401)
        #expect(gateway.waitForLog("waiting-for-keys"))
    }

    /// A reload adds a pool whose JWKS answers only after the reload stopped waiting for it (`keyWaitLimit`,
    /// 5 s): from the moment the new configuration answers, /readyz says that pool's keys are missing, as its
    /// tokens get 503, until they arrive.
    @Test func aPoolAddedByAReloadIsNotReadyUntilItsKeysArrive() throws {
        let firstSigner = TestSigner(keyID: "first")
        let secondSigner = TestSigner(keyID: "second")
        let first = try FixtureServer(jwks: TestSigner.jwks([firstSigner]))
        // Eight seconds: past the reload's wait, within a JWKS fetch's ten-second timeout.
        let second = try FixtureServer(jwks: "SLOW:8\n" + TestSigner.jwks([secondSigner]))
        let gateway = try RunningGateway(
            extra: routes(upstream: first.url), cognito: cognitoBlock(jwksURL: first.url + "/jwks.json"))
        #expect(try waitUntilReady(gateway))

        try gateway.rewriteConfig { $0 + secondPool(jwksURL: second.url + "/jwks.json") }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reloaded"))
        let waiting = try readiness(gateway)
        #expect(waiting.status == 503, "\(waiting.bodyText)")
        #expect(waiting.bodyText.contains(#""signing_keys:\#(secondPoolID)":"the JWKS has not been fetched yet""#))
        #expect(try second.jwksRequests() == 1, "its first fetch is still under way")
        #expect(try gateway.status("/api", token: secondSigner.token(secondPoolClaims())) == 503)
        #expect(try gateway.status("/api", token: firstSigner.token(TestSigner.claims())) == 200)

        #expect(try waitUntilReady(gateway, seconds: 15), "ready once the second pool's keys arrive")
        #expect(try second.jwksRequests() == 1)
        #expect(try gateway.status("/api", token: secondSigner.token(secondPoolClaims())) == 200)
    }

    /// A reload removes a pool (/readyz no longer waits for it) and adds one back (its keys are fetched before
    /// the new configuration answers, so its tokens are never refused with 503 in between).
    @Test func aReloadAddsAndRemovesPools() throws {
        let firstSigner = TestSigner(keyID: "first")
        let secondSigner = TestSigner(keyID: "second")
        let first = try FixtureServer(jwks: TestSigner.jwks([firstSigner]))
        let unreachable = "http://127.0.0.1:\(try freePort())/jwks.json"
        let gateway = try RunningGateway(
            extra: routes(upstream: first.url),
            cognito: cognitoBlock(jwksURL: first.url + "/jwks.json") + secondPool(jwksURL: unreachable))
        let deadline = Date().addingTimeInterval(10)
        while try !readiness(gateway).bodyText.contains("fetch failed") && Date() < deadline { usleep(50_000) }
        #expect(try readiness(gateway).status == 503)

        try gateway.rewriteConfig { $0.replacingOccurrences(of: secondPool(jwksURL: unreachable), with: "") }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reloaded"))
        #expect(try waitUntilReady(gateway), "the removed pool is not waited for")
        #expect(try gateway.status("/api", token: secondSigner.token(secondPoolClaims())) == 401, "unknown issuer now")

        let second = try FixtureServer(jwks: TestSigner.jwks([secondSigner]))
        try gateway.rewriteConfig { $0 + secondPool(jwksURL: second.url + "/jwks.json") }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reloaded", count: 2))
        #expect(try gateway.status("/api", token: secondSigner.token(secondPoolClaims())) == 200)
        #expect(try gateway.status("/api", token: firstSigner.token(TestSigner.claims())) == 200)
        #expect(try readiness(gateway).status == 200)
    }
}
