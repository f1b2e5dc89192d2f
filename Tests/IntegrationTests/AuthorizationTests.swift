import Cryptography
import Encoding
import Foundation
import JWT
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Signs Cognito-shaped tokens with a key the test controls and publishes it as a JWKS.
struct TestSigner {
    let key: RSAPrivateKey
    let keyID: String

    init(keyID: String) {
        key = RSAPrivateKey(generatingBits: 2048)
        self.keyID = keyID
    }

    var jwk: String {
        #"{"kty":"RSA","use":"sig","alg":"RS256","kid":"\#(keyID)","n":"\#(Base64URL.encode(key.modulus))","e":"\#(Base64URL.encode(key.exponent))"}"#
    }

    static func jwks(_ signers: [TestSigner]) -> String {
        #"{"keys":[\#(signers.map(\.jwk).joined(separator: ","))]}"#
    }

    func token(_ claims: [String: Any], header: [String: Any]? = nil) -> String {
        let headerObject = header ?? ["alg": "RS256", "kid": keyID]
        let headerPart = Base64URL.encode(try! JSONSerialization.data(withJSONObject: headerObject))
        let payloadPart = Base64URL.encode(try! JSONSerialization.data(withJSONObject: claims))
        let input = "\(headerPart).\(payloadPart)"
        return "\(input).\(Base64URL.encode(key.signRS256(Array(input.utf8))))"
    }

    static let issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"

    static func claims(_ change: (inout [String: Any]) -> Void = { _ in }) -> [String: Any] {
        let now = Date().timeIntervalSince1970
        var claims: [String: Any] = [
            "iss": issuer, "token_use": "id", "aud": "testclient", "sub": "sub-1234", "cognito:username": "alice",
            "cognito:groups": ["staff"], "exp": Int(now) + 3600, "iat": Int(now) - 5,
        ]
        change(&claims)
        return claims
    }
}

func cognitoBlock(jwksURL: String, extra: String = "") -> String {
    """
    [cognito]
    region = "us-east-1"
    user_pool_id = "us-east-1_Test"
    client_ids = ["testclient"]
    jwks_url = "\(jwksURL)"
    jwks_min_refetch_interval = "1s"
    \(extra)
    """
}

/// /api (any signed-in user), /admin (group admins), /open (no auth), all to the fixture's echo upstream.
func routes(upstream: String) -> String {
    """
    [[route]]
    prefix = "/api"
    upstream = "\(upstream)/upstream"
    [[route]]
    prefix = "/admin"
    upstream = "\(upstream)/upstream"
    groups = ["admins"]
    [[route]]
    prefix = "/open"
    upstream = "\(upstream)/upstream"
    auth = "none"
    """
}

private func get(_ gateway: RunningGateway, _ path: String, token: String? = nil, scheme: String = "Bearer ") throws
    -> RawResponse
{
    let authorization = token.map { "Authorization: \(scheme)\($0)\r\n" } ?? ""
    return try RawClient(port: gateway.publicPort).exchange("GET \(path) HTTP/1.1\r\nHost: a\r\n\(authorization)\r\n")
}

/// Polls /readyz until it answers 200 or `seconds` pass.
func waitUntilReady(_ gateway: RunningGateway, seconds: Double = 10) throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try RawClient(port: gateway.adminPort).exchange("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n").status == 200 {
            return true
        }
        usleep(100_000)
    }
    return false
}

@Suite(.serialized) struct AuthorizationTests {
    let signer = TestSigner(keyID: "key-1")

    @Test func tokenRulesDecideEveryRequest() throws {
        let jwks = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            extra: routes(upstream: jwks.url), cognito: cognitoBlock(jwksURL: jwks.url + "/pool/jwks.json"))
        #expect(try waitUntilReady(gateway))

        let good = signer.token(TestSigner.claims())
        let allowed = try get(gateway, "/api/orders", token: good)
        #expect(allowed.status == 200)
        #expect(try get(gateway, "/api", token: good, scheme: "bearer ").status == 200)
        #expect(try get(gateway, "/api", token: good, scheme: "").status == 200, "the bare token, API Gateway style")

        let none = try get(gateway, "/api/orders")
        #expect(none.status == 401)
        #expect(none.bodyText == #"{"message":"Unauthorized"}"#)
        #expect(none.header("WWW-Authenticate") == "Bearer")

        let expired = try get(
            gateway, "/api",
            token: signer.token(TestSigner.claims { $0["exp"] = Int(Date().timeIntervalSince1970) - 120 }))
        #expect(expired.status == 401)
        #expect(expired.bodyText == #"{"message":"The incoming token has expired"}"#)
        #expect(expired.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)

        let parts = good.split(separator: ".").map(String.init)
        let forged = Base64URL.encode(Array(#"{"alg":"HS256","kid":"key-1"}"#.utf8))
        let noneAlg = Base64URL.encode(Array(#"{"alg":"none","kid":"key-1"}"#.utf8))
        let tampered = Base64URL.encode(Array(#"{"sub":"mallory","iss":"\#(TestSigner.issuer)"}"#.utf8))
        let stranger = TestSigner(keyID: "key-1")
        for bad in [
            signer.token(
                TestSigner.claims { $0["iss"] = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other" }),
            signer.token(TestSigner.claims { $0["aud"] = "otherclient" }),
            signer.token(
                TestSigner.claims {
                    $0["token_use"] = "access"
                    $0["client_id"] = "testclient"
                }),
            "\(forged).\(parts[1]).\(parts[2])",
            "\(noneAlg).\(parts[1]).",
            "\(parts[0]).\(tampered).\(parts[2])",
            stranger.token(TestSigner.claims()),
            "not-a-token",
        ] {
            let response = try get(gateway, "/api", token: bad)
            #expect(response.status == 401, "token \(bad.prefix(40))…")
        }

        let forbidden = try get(gateway, "/admin/users", token: good)
        #expect(forbidden.status == 403)
        #expect(forbidden.bodyText == #"{"message":"Forbidden"}"#)
        #expect(
            try get(gateway, "/admin", token: signer.token(TestSigner.claims { $0["cognito:groups"] = ["admins"] }))
                .status == 200)

        #expect(try get(gateway, "/open/x").status == 200, "auth = none needs no token")
        #expect(try get(gateway, "/apix", token: good).status == 404, "prefixes match on segment boundaries")

        // The reason is in the access log (written after the answer, once the loop's burst is done), the token never.
        #expect(gateway.waitForLog("\"auth\":\"expired\""))
        #expect(gateway.waitForLog("\"auth\":\"groups not satisfied\""))
        #expect(gateway.waitForLog("\"sub\":\"sub-1234\""))
        #expect(!gateway.log.contains(parts[2]))
    }

    @Test func twoAuthorizationFieldsAreRefused() throws {
        let jwks = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            extra: routes(upstream: jwks.url), cognito: cognitoBlock(jwksURL: jwks.url + "/jwks.json"))
        #expect(try waitUntilReady(gateway))
        let good = signer.token(TestSigner.claims())
        let response = try RawClient(port: gateway.publicPort).exchange(
            "GET /api HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(good)\r\nAuthorization: Bearer \(good)\r\n\r\n")
        #expect(response.status == 401)
    }

    @Test(arguments: ["/api/../admin", "/api/%2e%2e/admin", "/api/a%2Fb", "/api/a%5cb", "/api/%2E/x", "/api/a%00"])
    func unsafePathsAreRefusedBeforeAnyCheck(path: String) throws {
        let gateway = try RunningGateway(extra: routes(upstream: "http://127.0.0.1:9"))
        #expect(try get(gateway, path).status == 400)
    }

    @Test func noKeysEverLoadedGives503AndReadinessSaysWhy() throws {
        let upstream = try FixtureServer()
        let gateway = try RunningGateway(extra: routes(upstream: upstream.url))
        let response = try get(gateway, "/api", token: signer.token(TestSigner.claims()))
        #expect(response.status == 503)
        #expect(response.bodyText == #"{"message":"Service Unavailable"}"#)
        let ready = try RawClient(port: gateway.adminPort).exchange("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(ready.status == 503)
        #expect(ready.bodyText.contains("signing_keys"))
        // Routes without auth do not depend on the keys.
        #expect(try get(gateway, "/open").status == 200)
    }

    @Test func unknownKidTriggersOneCoalescedRefetchAndRotationWorks() throws {
        let jwks = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            extra: routes(upstream: jwks.url), cognito: cognitoBlock(jwksURL: jwks.url + "/jwks.json"))
        #expect(try waitUntilReady(gateway))
        let fetchesAtStart = try jwks.jwksRequests()

        let rotated = TestSigner(keyID: "key-2")
        try jwks.setJWKS(TestSigner.jwks([rotated]))
        sleep(1)  // past jwks_min_refetch_interval
        let token = rotated.token(TestSigner.claims())
        // Many requests with the new kid at once: one fetch serves them all.
        let clients = try (0..<10).map { _ in try RawClient(port: gateway.publicPort) }
        for client in clients {
            try client.send("GET /api HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\n\r\n")
        }
        for client in clients { #expect(try client.readResponse().status == 200) }
        #expect(try jwks.jwksRequests() == fetchesAtStart + 1)

        // The old key left the JWKS: its tokens no longer pass, even though they were verified before.
        #expect(try get(gateway, "/api", token: signer.token(TestSigner.claims())).status == 401)

        // Unknown kids do not make authgate hammer the JWKS endpoint.
        let stranger = TestSigner(keyID: "key-3")
        for _ in 0..<5 { #expect(try get(gateway, "/api", token: stranger.token(TestSigner.claims())).status == 401) }
        #expect(try jwks.jwksRequests() <= fetchesAtStart + 2)
    }

    @Test func refusedOrFailingJWKSKeepsTheKeysHeld() throws {
        let jwks = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            extra: routes(upstream: jwks.url),
            cognito: cognitoBlock(jwksURL: jwks.url + "/jwks.json", extra: "jwks_refresh = \"10s\""))
        #expect(try waitUntilReady(gateway))
        let token = signer.token(TestSigner.claims())
        #expect(try get(gateway, "/api", token: token).status == 200)

        try jwks.setJWKS("<html>not a jwks</html>")
        let newcomer = TestSigner(keyID: "key-9")
        sleep(1)
        // The unknown kid forces a fetch, which is refused: the old key still works, the new one does not.
        #expect(try get(gateway, "/api", token: newcomer.token(TestSigner.claims())).status == 401)
        #expect(try get(gateway, "/api", token: signer.token(TestSigner.claims { $0["jti"] = "fresh" })).status == 200)
        #expect(gateway.waitForLog("jwks fetch failed"))
        #expect(try waitUntilReady(gateway, seconds: 1))
    }

    @Test func jwksGoingDownKeepsTheKeysHeld() throws {
        let jwks = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let upstream = try FixtureServer()
        let gateway = try RunningGateway(
            extra: routes(upstream: upstream.url), cognito: cognitoBlock(jwksURL: jwks.url + "/jwks.json"))
        #expect(try waitUntilReady(gateway))
        jwks.stop()
        sleep(1)
        // The unknown kid forces a fetch that fails; tokens of the key held still pass.
        #expect(try get(gateway, "/api", token: TestSigner(keyID: "key-7").token(TestSigner.claims())).status == 401)
        #expect(
            try get(gateway, "/api", token: signer.token(TestSigner.claims { $0["jti"] = "after-outage" })).status
                == 200)
        #expect(try waitUntilReady(gateway, seconds: 1))
        #expect(gateway.waitForLog("jwks fetch failed"))
    }

    @Test func hugeJWKSAnswerIsRefused() throws {
        let jwks = try FixtureServer()
        let gateway = try RunningGateway(
            extra: routes(upstream: jwks.url), cognito: cognitoBlock(jwksURL: jwks.url + "/big"))
        #expect(gateway.waitForLog("jwks fetch failed"))
        let ready = try RawClient(port: gateway.adminPort).exchange("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(ready.status == 503)
        #expect(ready.bodyText.contains("larger than"))
    }

    @Test func jwksComingUpLateMakesTheGatewayReady() throws {
        let port = try FixtureServer.freePort()
        let gateway = try RunningGateway(
            extra: routes(upstream: "http://127.0.0.1:\(port)"),
            cognito: cognitoBlock(jwksURL: "http://127.0.0.1:\(port)/jwks.json"))
        #expect(try get(gateway, "/api", token: signer.token(TestSigner.claims())).status == 503)
        // Nothing listens yet: the first fetch failed. Start a JWKS server on that port now.
        let script = Repository.root.appendingPathComponent("Tests/Fixtures/fixture_server.py").path
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("late-\(UUID().uuidString).json")
        try TestSigner.jwks([signer]).write(to: file, atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", script, "--port", "\(port)", "--jwks-file", file.path]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL) }
        // Retries back off 1s, 2s, 4s…: ready within a few seconds of the endpoint appearing.
        #expect(try waitUntilReady(gateway, seconds: 12))
        #expect(try get(gateway, "/api", token: signer.token(TestSigner.claims())).status == 200)
    }
}

@Suite struct VerifyTokenCommandTests {
    let signer = TestSigner(keyID: "cli-key")

    private func configFile(jwksURL: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString).toml")
        try cognitoBlock(jwksURL: jwksURL).write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func validTokenPrintsItsClaims() throws {
        let jwks = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let config = try configFile(jwksURL: jwks.url + "/jwks.json")
        defer { try? FileManager.default.removeItem(at: config) }
        let token = signer.token(TestSigner.claims())
        let result = try runCommand(["verify-token", "--config", config.path, token])
        #expect(result.status == 0)
        let claims = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(claims?["sub"] as? String == "sub-1234")
        let fromStdin = try runCommand(["verify-token", "--config", config.path], input: "Bearer \(token)\n")
        #expect(fromStdin.status == 0)
    }

    @Test func invalidTokenPrintsTheReasonAndExitsOne() throws {
        let jwks = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let config = try configFile(jwksURL: jwks.url + "/jwks.json")
        defer { try? FileManager.default.removeItem(at: config) }
        let expired = signer.token(TestSigner.claims { $0["exp"] = 1_000_000 })
        let result = try runCommand(["verify-token", "--config", config.path, expired])
        #expect(result.status == 1)
        #expect(result.stderr.contains("token rejected: expired"))
        #expect(result.stdout.isEmpty)
    }

    @Test func unreachableJWKSIsExitOne() throws {
        let port = try FixtureServer.freePort()
        let config = try configFile(jwksURL: "http://127.0.0.1:\(port)/jwks.json")
        defer { try? FileManager.default.removeItem(at: config) }
        let result = try runCommand(["verify-token", "--config", config.path, signer.token(TestSigner.claims())])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot fetch the JWKS"))
    }
}
