import Foundation
import TestSupport
import Testing

/// `server.trusted_proxies` with the real binary: 127.0.0.2 plays the proxy in front of authgate (the test binds
/// its client sockets there), 127.0.0.1 a client that reaches authgate directly and forges the headers.
@Suite(.serialized) struct ClientAddressTests {
    /// The request headers the fixture's echo upstream saw.
    private func echoedHeaders(_ response: RawResponse) throws -> [(String, String)] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let pairs = try #require(object["headers"] as? [[String]])
        return pairs.map { ($0[0], $0[1]) }
    }

    private func values(_ headers: [(String, String)], _ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    /// The access line of the request with `id`.
    private func accessLine(_ gateway: RunningGateway, requestID id: String) -> String? {
        guard gateway.waitForLog("\"request_id\":\"\(id)\"") else { return nil }
        return gateway.log.split(separator: "\n").first { $0.contains("\"request_id\":\"\(id)\"") }.map(String.init)
    }

    private func gateway(_ upstream: FixtureServer, signIn: String = "") throws -> RunningGateway {
        try RunningGateway(
            server: #"trusted_proxies = ["127.0.0.2/32", "2001:db8::/32"]"#,
            extra: """
                \(signIn)
                [[route]]
                prefix = "/upstream"
                upstream = "\(upstream.url)"
                auth = "none"
                """)
    }

    private func get(_ gateway: RunningGateway, from source: String, id: String, fields: String) throws -> RawResponse {
        try RawClient(port: gateway.publicPort, source: source).exchange(
            "GET /upstream/who HTTP/1.1\r\nHost: a\r\nX-Request-Id: \(id)\r\n\(fields)\r\n")
    }

    @Test func anUntrustedPeersForgedChainAndRealIPChangeNothing() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream)
        let response = try get(
            gateway, from: "127.0.0.1", id: "forged-1",
            fields: "X-Forwarded-For: 203.0.113.7\r\nX-Real-IP: 198.51.100.1\r\nx-real-ip: 198.51.100.2\r\n")
        #expect(response.status == 200)
        let seen = try echoedHeaders(response)
        #expect(values(seen, "X-Real-IP") == ["127.0.0.1"], "the peer, and only authgate's own")
        #expect(values(seen, "X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"], "the chain stays true")
        let line = try #require(accessLine(gateway, requestID: "forged-1"))
        #expect(line.contains("\"client\":\"127.0.0.1\""), "\(line)")
    }

    @Test func aTrustedProxyNamesTheClientForTheLogAndTheUpstream() throws {
        let upstream = try FixtureServer()
        let gateway = try gateway(upstream)
        // The left-most entry is the client's own forgery; the proxy appended the address it saw.
        let response = try get(
            gateway, from: "127.0.0.2", id: "proxied-1",
            fields: "X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.7, 2001:db8::9\r\n")
        #expect(response.status == 200)
        let seen = try echoedHeaders(response)
        #expect(values(seen, "X-Real-IP") == ["203.0.113.7"])
        #expect(values(seen, "X-Forwarded-For") == ["6.6.6.6, 203.0.113.7, 2001:db8::9, 127.0.0.2"])
        let line = try #require(accessLine(gateway, requestID: "proxied-1"))
        #expect(line.contains("\"client\":\"203.0.113.7\""), "\(line)")

        // A proxy that sends no chain, or a malformed one, is the client itself.
        let bare = try echoedHeaders(get(gateway, from: "127.0.0.2", id: "proxied-2", fields: ""))
        #expect(values(bare, "X-Real-IP") == ["127.0.0.2"])
        let garbage = try echoedHeaders(
            get(gateway, from: "127.0.0.2", id: "proxied-3", fields: "X-Forwarded-For: 203.0.113.7, not-an-ip\r\n"))
        #expect(values(garbage, "X-Real-IP") == ["127.0.0.2"])
        #expect(accessLine(gateway, requestID: "proxied-3")?.contains("\"client\":\"127.0.0.2\"") == true)
    }

    @Test func signInRateLimitBucketsByTheDerivedClient() throws {
        let upstream = try FixtureServer()
        // The limiter counts every POST before its body is read: a bad body (400) spends an attempt as a sign-in
        // with Cognito unreachable would, without waiting for its retries.
        let gateway = try gateway(upstream, signIn: "[signin]\nrate_limit = \"2/m\"\n")
        func attempt(from source: String, forwardedFor: String?) throws -> Int {
            let chain = forwardedFor.map { "X-Forwarded-For: \($0)\r\n" } ?? ""
            return try RawClient(port: gateway.publicPort, source: source).exchange(
                "POST /signin HTTP/1.1\r\nHost: a\r\n\(chain)Content-Type: application/json\r\nContent-Length: 1\r\n\r\nx"
            ).status
        }
        #expect(try attempt(from: "127.0.0.2", forwardedFor: "203.0.113.7") == 400)
        #expect(try attempt(from: "127.0.0.2", forwardedFor: "203.0.113.7") == 400)
        #expect(try attempt(from: "127.0.0.2", forwardedFor: "203.0.113.7") == 429, "its two attempts are spent")
        // Another client behind the same proxy has its own budget; so has the proxy itself.
        #expect(try attempt(from: "127.0.0.2", forwardedFor: "198.51.100.1") == 400)
        #expect(try attempt(from: "127.0.0.2", forwardedFor: "198.51.100.1") == 400)
        #expect(try attempt(from: "127.0.0.2", forwardedFor: nil) == 400)
        // A direct client naming the limited one gets its own bucket, by its peer address.
        #expect(try attempt(from: "127.0.0.1", forwardedFor: "203.0.113.7") == 400)
        #expect(gateway.waitForLog("\"client\":\"203.0.113.7\"", count: 3))
        #expect(gateway.log.contains("\"client\":\"198.51.100.1\""))
    }
}
