import Cryptography
import Encoding
import Foundation
import JWT
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What the fixture's /upstream echo saw.
private struct Echo: Decodable {
    let method: String
    let path: String
    let headers: [[String]]
    let bodyLength: Int
    let bodySHA256: String

    enum CodingKeys: String, CodingKey {
        case method, path, headers
        case bodyLength = "body_length"
        case bodySHA256 = "body_sha256"
    }

    func values(_ name: String) -> [String] {
        headers.filter { $0[0].lowercased() == name.lowercased() }.map { $0[1] }
    }
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// A route "/upstream" without auth straight to the fixture's echo upstream.
private func openEchoRoute(_ upstream: FixtureServer) -> String {
    """

    [[route]]
    prefix = "/upstream"
    upstream = "\(upstream.url)"
    auth = "none"
    """
}

@Suite(.serialized) struct ForwardingTests {
    let signer = TestSigner(keyID: "fwd-key")

    private func gateway(_ upstream: FixtureServer, server: String = "", extraRoutes: String = "") throws
        -> RunningGateway
    {
        try upstream.setJWKS(TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            server: server,
            extra: """
                [[route]]
                prefix = "/api"
                upstream = "\(upstream.url)/upstream/base"
                strip_prefix = true
                [[route]]
                prefix = "/kept"
                upstream = "\(upstream.url)/upstream"
                auth = "none"
                preserve_host = true
                forward_authorization = false
                \(extraRoutes)
                """,
            cognito: """
                [cognito]
                region = "us-east-1"
                user_pool_id = "us-east-1_Test"
                client_ids = ["testclient"]
                jwks_url = "\(upstream.url)/jwks.json"
                """
        )
        #expect(try waitUntilReady(gateway))
        return gateway
    }

    private func echo(_ response: RawResponse) throws -> Echo {
        try JSONDecoder().decode(Echo.self, from: Data(response.body))
    }

    @Test func headersFollowTheRulesBothWays() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream)
        let token = signer.token(TestSigner.claims { $0["cognito:groups"] = ["staff", "ops"] })
        let response = try RawClient(port: gateway.publicPort).exchange(
            "GET /api/orders?limit=2 HTTP/1.1\r\nHost: public.example\r\nAuthorization: Bearer \(token)\r\n"
                + "X-Auth-Sub: forged\r\nx-auth-groups: admins\r\nX-Forwarded-For: 10.1.1.1\r\nX-Request-Id: trace-42\r\n"
                + "X-Real-IP: 10.1.1.1\r\n"
                + "Connection: X-Secret\r\nX-Secret: hop\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: x\r\n\r\n"
        )
        #expect(response.status == 200)
        #expect(response.header("X-Request-Id") == "trace-42")
        let seen = try echo(response)
        #expect(seen.path == "/upstream/base/orders?limit=2", "strip_prefix joined to the base path, query kept")
        #expect(seen.values("X-Auth-Sub") == ["sub-1234"])
        #expect(seen.values("X-Auth-Username") == ["alice"])
        #expect(seen.values("X-Auth-Groups") == ["staff,ops"])
        #expect(seen.values("X-Auth-Token-Use") == ["id"])
        let claims = try #require(seen.values("X-Auth-Claims").first.flatMap { Base64URL.decode(Array($0.utf8)) })
        #expect(String(decoding: claims, as: UTF8.self).contains("\"sub\":\"sub-1234\""))
        #expect(seen.values("X-Forwarded-For") == ["10.1.1.1, 127.0.0.1"])
        #expect(seen.values("X-Real-IP") == ["127.0.0.1"], "the peer: no proxy is trusted by default")
        #expect(seen.values("X-Forwarded-Proto") == ["http"])
        #expect(seen.values("X-Forwarded-Host") == ["public.example"])
        #expect(seen.values("X-Request-Id") == ["trace-42"])
        #expect(seen.values("Host") == ["127.0.0.1:\(upstream.port)"])
        #expect(seen.values("Authorization") == ["Bearer \(token)"])
        for hop in ["Connection", "X-Secret", "Keep-Alive", "TE", "Proxy-Authorization"] {
            #expect(seen.values(hop).isEmpty, "\(hop) must not reach the upstream")
        }
    }

    @Test func routeOptionsPreserveHostAndDropAuthorization() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream)
        let response = try RawClient(port: gateway.publicPort).exchange(
            "GET /kept/x HTTP/1.1\r\nHost: public.example\r\nAuthorization: Bearer abc\r\nX-Auth-Sub: forged\r\n\r\n")
        let seen = try echo(response)
        #expect(seen.path == "/upstream/kept/x")
        #expect(seen.values("Host") == ["public.example"])
        #expect(seen.values("Authorization").isEmpty)
        #expect(seen.values("X-Auth-Sub").isEmpty, "forged identity headers are stripped on every route")
    }

    @Test func largeBodiesStreamBothWaysIntact() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, extraRoutes: openEchoRoute(upstream))
        var body = [UInt8](repeating: 0, count: 5 * 1024 * 1024)
        for index in body.indices { body[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 11) }
        let client = try RawClient(port: gateway.publicPort, timeoutSeconds: 20)
        try client.send("POST /upstream/echo HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n")
        try client.send(body)
        let posted = try echo(client.readResponse())
        #expect(posted.bodyLength == body.count)
        #expect(posted.bodySHA256 == hex(SHA256.hash(body)))

        // The same body chunked, in uneven chunks.
        var chunked: [UInt8] = []
        var offset = 0
        var size = 1
        while offset < body.count {
            let piece = body[offset..<min(body.count, offset + size)]
            chunked += Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
            offset += piece.count
            size = size * 3 % 70001 + 1
        }
        chunked += Array("0\r\n\r\n".utf8)
        try client.send("PUT /upstream/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        try client.send(chunked)
        let put = try echo(client.readResponse())
        #expect(put.bodyLength == body.count)
        #expect(put.bodySHA256 == hex(SHA256.hash(body)))

        // 8 MB down, and the upstream's hop-by-hop fields stay behind.
        let size8 = 8 * 1024 * 1024
        let block = SHA256.hash(Array("authgate".utf8))
        var expected: [UInt8] = []
        expected.reserveCapacity(size8)
        while expected.count < size8 { expected += block.prefix(size8 - expected.count) }
        let big = try client.exchange("GET /upstream/big/\(size8) HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(big.status == 200)
        #expect(big.body.count == size8)
        #expect(big.body == expected)
        #expect(big.header("X-Hop") == nil)
        #expect(big.header("Connection") == nil)
    }

    @Test func chunkedAnswerIsRelayedChunked() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, extraRoutes: openEchoRoute(upstream))
        // Connection: close lets this test read the chunked answer to the end without decoding it.
        let response = try RawClient(port: gateway.publicPort).exchange(
            "GET /upstream/chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.header("Transfer-Encoding") == "chunked")
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(text.hasSuffix("0\r\n\r\n"))
        // HTTP/1.0 clients get the same answer delimited by the close.
        let old = try RawClient(port: gateway.publicPort).exchange("GET /upstream/chunked HTTP/1.0\r\n\r\n")
        #expect(old.header("Transfer-Encoding") == nil)
        #expect(try JSONSerialization.jsonObject(with: Data(old.body)) is [String: Any])
    }

    @Test func headAnswerKeepsItsLengthAndHasNoBody() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, extraRoutes: openEchoRoute(upstream))
        let client = try RawClient(port: gateway.publicPort)
        try client.send("HEAD /upstream/x HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try client.readResponse(head: true)
        #expect(head.status == 200)
        #expect(Int(head.header("Content-Length") ?? "") ?? 0 > 0)
        let next = try client.exchange("GET /upstream/y HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(next.status == 200, "the connection is still in step")
    }

    @Test func deadAndSlowUpstreamsGive502And504() throws {
        let upstream = try FixtureServer()
        let dead = try FixtureServer.freePort()
        let gateway = try gateway(
            upstream, server: "upstream_timeout = \"1s\"",
            extraRoutes: """
                [[route]]
                prefix = "/dead"
                upstream = "http://127.0.0.1:\(dead)"
                auth = "none"
                """ + openEchoRoute(upstream))
        let refused = try RawClient(port: gateway.publicPort).exchange("GET /dead/x HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(refused.status == 502)
        #expect(refused.bodyText == #"{"message":"Bad Gateway"}"#)
        let slow = try RawClient(port: gateway.publicPort).exchange("GET /upstream/slow HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(slow.status == 504)
        #expect(slow.bodyText == #"{"message":"Gateway Timeout"}"#)
        // Event lines are written before the answer they explain.
        #expect(gateway.log.contains("\"event\":\"upstream failed\""))
        #expect(gateway.log.contains("upstream_timeout"))
    }

    @Test func unixSocketUpstreamServes() throws {
        let upstream = try FixtureServer(unixSocket: true)
        let socket = try #require(upstream.unixSocket)
        let gateway = try gateway(
            upstream,
            extraRoutes: """
                [[route]]
                prefix = "/upstream/local"
                upstream = "unix:\(socket)"
                auth = "none"
                """)
        var seen: Echo?
        for _ in 0..<20 where seen == nil {
            let response = try RawClient(port: gateway.publicPort).exchange(
                "GET /upstream/local/x HTTP/1.1\r\nHost: a\r\n\r\n")
            if response.status == 200 { seen = try echo(response) } else { usleep(100_000) }
        }
        #expect(seen?.path == "/upstream/local/x")
    }

    @Test func clientLeavingMidDownloadDoesNotHurtTheGateway() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream, extraRoutes: openEchoRoute(upstream))
        for _ in 0..<5 {
            let client = try RawClient(port: gateway.publicPort)
            try client.send("GET /upstream/big/\(64 * 1024 * 1024) HTTP/1.1\r\nHost: a\r\n\r\n")
            usleep(50_000)
        }
        #expect(
            try RawClient(port: gateway.publicPort).exchange("GET /upstream/z HTTP/1.1\r\nHost: a\r\n\r\n").status
                == 200)
    }

    @Test func httpsUpstreamIsVerifiedAgainstItsCA() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try makeCertificate(in: directory)
        let secure = try FixtureServer(tls: (cert, key))
        let upstream = try FixtureServer()
        let gateway = try gateway(
            upstream,
            extraRoutes: """
                [[route]]
                prefix = "/secure"
                upstream = "https://localhost:\(secure.port)/upstream"
                ca_file = "\(cert)"
                auth = "none"
                [[route]]
                prefix = "/untrusted"
                upstream = "https://localhost:\(secure.port)/upstream"
                auth = "none"
                """)
        let client = try RawClient(port: gateway.publicPort)
        for _ in 0..<3 {
            let response = try client.exchange("GET /secure/x HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(response.status == 200)
            #expect(try echo(response).path == "/upstream/secure/x")
            #expect(try echo(response).values("Host") == ["localhost:\(secure.port)"])
        }
        let untrusted = try RawClient(port: gateway.publicPort).exchange("GET /untrusted/x HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(untrusted.status == 502, "a certificate the system CAs do not vouch for is refused")
        #expect(gateway.log.contains("certificate"))
    }
}
