import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// One exchange with curl: its status, its header fields in order (repeated ones kept), its body.
private func curl(_ arguments: [String]) throws -> RawResponse {
    let result = try shell(["curl", "-sS", "-i", "--max-time", "10"] + arguments)
    guard result.status == 0, let end = result.output.range(of: "\r\n\r\n") else {
        throw TestFailure("curl \(arguments) failed: \(result.output)")
    }
    let lines = result.output[..<end.lowerBound].components(separatedBy: "\r\n")
    let parts = lines[0].split(separator: " ", maxSplits: 2)
    guard parts.count >= 2, let status = Int(parts[1]) else { throw TestFailure("no status in \(lines[0])") }
    let headers = lines.dropFirst().compactMap { line -> (String, String)? in
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    return RawResponse(status: status, headers: headers, body: Array(result.output[end.upperBound...].utf8))
}

extension RawResponse {
    /// Every value of the fields named `name`, in order.
    fileprivate func values(_ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    /// The names of the Access-Control-* fields, lower-cased.
    fileprivate var accessControlFields: [String] {
        headers.map { $0.0.lowercased() }.filter { $0.hasPrefix("access-control-") }
    }
}

private let app = "https://app.example.com"

/// SPEC.md "CORS" against the real binary, spoken to with curl as a browser's requests look: preflights, every
/// field of every kind of answer, upstreams that send their own CORS fields, routes that opt out, reloads.
@Suite(.serialized) struct CORSTests {
    let signer = TestSigner(keyID: "cors-key")

    private func gateway(_ upstream: FixtureServer, cors: String) throws -> RunningGateway {
        try upstream.setJWKS(TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            extra: """
                \(cors)

                [[route]]
                prefix = "/api"
                upstream = "\(upstream.url)/upstream"
                [[route]]
                prefix = "/open"
                upstream = "\(upstream.url)/upstream"
                auth = "none"
                [[route]]
                prefix = "/legacy"
                upstream = "\(upstream.url)/upstream"
                auth = "none"
                cors = false
                """,
            cognito: cognitoBlock(jwksURL: "\(upstream.url)/jwks.json", extra: "endpoint_url = \"http://127.0.0.1:1\"")
        )
        #expect(try waitUntilReady(gateway))
        return gateway
    }

    private static let listed = """
        [cors]
        allow_origins = ["\(app)", "http://localhost:3000"]
        allow_credentials = true
        max_age = "5m"
        """

    /// How many requests the fixture's upstream has answered.
    private func upstreamRequests(_ upstream: FixtureServer) throws -> Int {
        let stats = try RawClient(port: upstream.port).exchange("GET /stats HTTP/1.1\r\nHost: a\r\n\r\n")
        let object = try JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Any]
        return try #require(object?["upstream_requests"] as? Int)
    }

    private func preflight(_ gateway: RunningGateway, _ path: String, origin: String) throws -> RawResponse {
        try curl([
            "-X", "OPTIONS", "-H", "Origin: \(origin)", "-H", "Access-Control-Request-Method: PUT",
            "-H", "Access-Control-Request-Headers: content-type, x-custom",
            "http://127.0.0.1:\(gateway.publicPort)\(path)",
        ])
    }

    @Test func preflightsAreAnsweredByAuthgateAloneWithoutAToken() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cors: Self.listed)
        let before = try upstreamRequests(upstream)
        for path in ["/api/orders", "/open/x", "/signin", "/signout"] {
            let answer = try preflight(gateway, path, origin: app)
            #expect(answer.status == 204, "\(path)")
            #expect(answer.values("Access-Control-Allow-Origin") == [app])
            #expect(answer.values("Access-Control-Allow-Methods") == ["GET, HEAD, POST, PUT, PATCH, DELETE"])
            #expect(answer.values("Access-Control-Allow-Headers") == ["authorization, content-type"])
            #expect(answer.values("Access-Control-Max-Age") == ["300"])
            #expect(answer.values("Access-Control-Allow-Credentials") == ["true"])
            #expect(answer.values("Vary") == ["Origin"])
            #expect(answer.values("Access-Control-Expose-Headers").isEmpty, "only answers that follow expose fields")
            #expect(answer.values("Content-Length").isEmpty && answer.body.isEmpty, "a 204 has no body")
            #expect(answer.values("X-Request-Id").count == 1)
        }
        for origin in ["https://evil.example", "https://APP.example.com", "\(app)/", "null"] {
            let refused = try preflight(gateway, "/api/orders", origin: origin)
            #expect(refused.status == 403, "\(origin)")
            #expect(refused.bodyText == #"{"message":"Forbidden"}"#)
            #expect(refused.accessControlFields.isEmpty, "\(origin): \(refused.headers)")
            #expect(refused.values("Vary") == ["Origin"])
        }
        #expect(try upstreamRequests(upstream) == before, "no preflight reached the upstream")
        // The route that opts out forwards the same preflight as any request: the count above could move.
        let forwarded = try preflight(gateway, "/legacy/x", origin: app)
        #expect(forwarded.status == 200 && forwarded.bodyText.contains(#""method": "OPTIONS""#))
        #expect(forwarded.accessControlFields.isEmpty && forwarded.values("Vary").isEmpty)
        #expect(try upstreamRequests(upstream) == before + 1)
        // A preflight to a path no route takes is its 404, with the fields the browser needs to read it.
        let nowhere = try preflight(gateway, "/nowhere", origin: app)
        #expect(nowhere.status == 404 && nowhere.values("Access-Control-Allow-Origin") == [app])
        #expect(gateway.log.contains(#""auth":"cors preflight""#), "\(gateway.log)")
    }

    @Test func everyAnswerToAnAllowedOriginCarriesTheFields() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cors: Self.listed)
        let base = "http://127.0.0.1:\(gateway.publicPort)"
        let token = signer.token(TestSigner.claims())
        let answers: [(String, Int, RawResponse)] = [
            ("401 without a token", 401, try curl(["-H", "Origin: \(app)", "\(base)/api/orders"])),
            ("404 for no route", 404, try curl(["-H", "Origin: \(app)", "\(base)/nowhere"])),
            (
                "400 for an unsafe path", 400,
                try curl(["--path-as-is", "-H", "Origin: \(app)", "\(base)/api/%2e%2e/x"])
            ),
            (
                "200 from the upstream", 200,
                try curl(["-H", "Origin: \(app)", "-H", "Authorization: Bearer \(token)", "\(base)/api/orders"])
            ),
            ("400 from /signin", 400, try curl(["-H", "Origin: \(app)", "--data", "{}", "\(base)/signin"])),
            ("405 from /signin", 405, try curl(["-X", "OPTIONS", "-H", "Origin: \(app)", "\(base)/signin"])),
            ("401 from /signout", 401, try curl(["-X", "POST", "-H", "Origin: \(app)", "\(base)/signout"])),
        ]
        for (what, status, answer) in answers {
            #expect(answer.status == status, "\(what): \(answer.bodyText)")
            #expect(answer.values("Access-Control-Allow-Origin") == [app], "\(what)")
            #expect(answer.values("Access-Control-Expose-Headers") == ["x-request-id"], "\(what)")
            #expect(answer.values("Access-Control-Allow-Credentials") == ["true"], "\(what)")
            #expect(answer.values("Vary") == ["Origin"], "\(what)")
            #expect(
                answer.values("Access-Control-Allow-Methods").isEmpty, "\(what): preflight fields only on preflights")
        }
        #expect(answers[0].2.values("WWW-Authenticate") == ["Bearer"])
        #expect(answers[0].2.bodyText == #"{"message":"Unauthorized"}"#)
        #expect(answers[5].2.values("Allow") == ["POST"])

        // The second allowed origin is echoed as itself; other origins are served as usual, without the fields.
        let other = try curl(["-H", "Origin: http://localhost:3000", "\(base)/nowhere"])
        #expect(other.values("Access-Control-Allow-Origin") == ["http://localhost:3000"])
        for origin in ["https://evil.example", "https://APP.example.com", "\(app):443", "http://localhost:3001"] {
            let answer = try curl(["-H", "Origin: \(origin)", "\(base)/api/orders"])
            #expect(answer.status == 401 && answer.accessControlFields.isEmpty, "\(origin)")
            #expect(answer.values("Vary") == ["Origin"], "the answer differs for another Origin: caches must know")
        }
    }

    /// The fields belong to one exchange: on a kept-alive connection the next request gets its own, and one
    /// refused before its head was read gets none.
    @Test func theFieldsNeverOutliveTheirExchange() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cors: Self.listed)
        let client = try RawClient(port: gateway.publicPort)
        let preflight = try client.exchange(
            "OPTIONS /open/x HTTP/1.1\r\nHost: a\r\nOrigin: \(app)\r\nAccess-Control-Request-Method: PUT\r\n\r\n")
        #expect(preflight.status == 204 && preflight.header("Access-Control-Allow-Origin") == app)
        let withoutOrigin = try client.exchange("GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(withoutOrigin.status == 404 && withoutOrigin.accessControlFields.isEmpty)
        #expect(withoutOrigin.values("Vary") == ["Origin"])
        let proxied = try client.exchange("GET /open/x HTTP/1.1\r\nHost: a\r\nOrigin: http://localhost:3000\r\n\r\n")
        #expect(proxied.status == 200 && proxied.values("Access-Control-Allow-Origin") == ["http://localhost:3000"])
        let malformed = try client.exchange("GET /open/x HTTP/1.1\r\nHost: a\r\nBad Field: x\r\n\r\n")
        #expect(malformed.status == 400 && malformed.accessControlFields.isEmpty && malformed.values("Vary").isEmpty)
    }

    @Test func upstreamCORSFieldsAreReplacedAndItsVaryMerged() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cors: Self.listed)
        let base = "http://127.0.0.1:\(gateway.publicPort)"
        let query =
            "?answer_header=Access-Control-Allow-Origin:evil&answer_header=Access-Control-Allow-Credentials:true"
            + "&answer_header=Access-Control-Allow-Methods:TRACE&answer_header=Vary:Accept-Encoding"

        let allowed = try curl(["-H", "Origin: \(app)", "\(base)/open/x\(query)"])
        #expect(allowed.status == 200)
        #expect(allowed.values("Access-Control-Allow-Origin") == [app], "exactly one, authgate's: \(allowed.headers)")
        #expect(allowed.values("Access-Control-Allow-Credentials") == ["true"])
        #expect(allowed.values("Access-Control-Expose-Headers") == ["x-request-id"])
        #expect(allowed.values("Access-Control-Allow-Methods").isEmpty, "the upstream's are all removed")
        #expect(allowed.values("Vary") == ["Accept-Encoding, Origin"], "one field with both: \(allowed.headers)")

        for origin in [["-H", "Origin: https://evil.example"], []] {
            let served = try curl(origin + ["\(base)/open/x\(query)"])
            #expect(served.status == 200)
            #expect(served.accessControlFields.isEmpty, "\(origin): the upstream's evil is gone too: \(served.headers)")
            #expect(served.values("Vary") == ["Accept-Encoding, Origin"])
        }

        // cors = false: the route's upstream keeps its own policy, untouched.
        let legacy = try curl(["-H", "Origin: \(app)", "\(base)/legacy/x\(query)"])
        #expect(legacy.values("Access-Control-Allow-Origin") == ["evil"])
        #expect(legacy.values("Access-Control-Allow-Methods") == ["TRACE"])
        #expect(legacy.values("Access-Control-Expose-Headers").isEmpty)
        #expect(legacy.values("Vary") == ["Accept-Encoding"])
    }

    @Test func optionsWithoutARequestMethodIsAnOrdinaryRequest() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cors: Self.listed)
        let url = "http://127.0.0.1:\(gateway.publicPort)/api/things"
        let before = try upstreamRequests(upstream)
        let withoutToken = try curl(["-X", "OPTIONS", "-H", "Origin: \(app)", url])
        #expect(withoutToken.status == 401, "not a preflight: the route wants its token")
        #expect(withoutToken.values("Access-Control-Allow-Origin") == [app])
        #expect(try upstreamRequests(upstream) == before)

        let token = signer.token(TestSigner.claims())
        let forwarded = try curl(["-X", "OPTIONS", "-H", "Origin: \(app)", "-H", "Authorization: Bearer \(token)", url])
        #expect(forwarded.status == 200)
        let echo = try JSONSerialization.jsonObject(with: Data(forwarded.body)) as? [String: Any]
        #expect(echo?["method"] as? String == "OPTIONS")
        #expect(forwarded.values("Access-Control-Allow-Origin") == [app])
        #expect(forwarded.values("Access-Control-Allow-Methods").isEmpty)
        #expect(try upstreamRequests(upstream) == before + 1)

        // The request method alone, without Origin, is no preflight either.
        let noOrigin = try curl(["-X", "OPTIONS", "-H", "Access-Control-Request-Method: PUT", url])
        #expect(noOrigin.status == 401 && noOrigin.accessControlFields.isEmpty)
    }

    @Test func theWildcardAllowsEveryOriginWithoutCredentials() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(
            upstream, cors: "[cors]\nallow_origins = [\"*\"]\nexpose_headers = [\"x-request-id\", \"etag\"]")
        let base = "http://127.0.0.1:\(gateway.publicPort)"
        let answer = try preflight(gateway, "/api/x", origin: "https://anyone.example")
        #expect(answer.status == 204)
        #expect(answer.values("Access-Control-Allow-Origin") == ["*"])
        #expect(answer.values("Access-Control-Max-Age") == ["600"])
        #expect(answer.values("Access-Control-Allow-Credentials").isEmpty)
        for path in ["/open/x", "/api/x", "/nowhere"] {
            let served = try curl(["-H", "Origin: null", "\(base)\(path)"])
            #expect(served.values("Access-Control-Allow-Origin") == ["*"], "\(path)")
            #expect(served.values("Access-Control-Expose-Headers") == ["x-request-id, etag"])
            #expect(served.values("Access-Control-Allow-Credentials").isEmpty)
        }
    }

    @Test func aReloadReplacesThePolicyAndARefusedOneKeepsIt() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, cors: Self.listed)
        let url = "http://127.0.0.1:\(gateway.publicPort)/open/x"
        #expect(try curl(["-H", "Origin: \(app)", url]).values("Access-Control-Allow-Origin") == [app])

        try gateway.rewriteConfig {
            $0.replacingOccurrences(
                of: #"allow_origins = ["\#(app)", "http://localhost:3000"]"#,
                with: #"allow_origins = ["https://next.example"]"#)
        }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reloaded"))
        #expect(try curl(["-H", "Origin: \(app)", url]).accessControlFields.isEmpty)
        #expect(
            try curl(["-H", "Origin: https://next.example", url]).values("Access-Control-Allow-Origin") == [
                "https://next.example"
            ])

        // Credentials with the wildcard is refused, naming the key; the running policy stays.
        try gateway.rewriteConfig {
            $0.replacingOccurrences(of: #"allow_origins = ["https://next.example"]"#, with: #"allow_origins = ["*"]"#)
        }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        #expect(gateway.log.contains("cors.allow_credentials"))
        let kept = try curl(["-H", "Origin: https://next.example", url])
        #expect(kept.values("Access-Control-Allow-Origin") == ["https://next.example"])
        #expect(try curl(["-H", "Origin: https://other.example", url]).accessControlFields.isEmpty)
    }
}
