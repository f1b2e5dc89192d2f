import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `server.dns_refresh` with the real binary. The upstream's name is answered by `AUTHGATE_HOSTS_FILE` (never the
/// machine's resolver): the test moves it from 127.0.0.1 to 127.0.0.3, where a second fixture listens on the same
/// port, then takes it away.
@Suite(.serialized) struct UpstreamDNSTests {
    /// Which fixture answered a request for /upstream on a new connection, or on `client`.
    private func server(_ gateway: RunningGateway, on client: RawClient? = nil) throws -> String? {
        let connection = try client ?? RawClient(port: gateway.publicPort)
        let response = try connection.exchange("GET /upstream/where HTTP/1.1\r\nHost: a\r\n\r\n")
        guard response.status == 200 else { return "status \(response.status)" }
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return object?["server"] as? String
    }

    @Test func aMovedNameIsFollowedAndAFailedLookupKeepsTheLastAddresses() throws {
        let first = try FixtureServer()
        let second = try FixtureServer(host: "127.0.0.3", port: first.port)
        let hosts = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: hosts) }
        try "127.0.0.1 other.test upstream.test\n".write(to: hosts, atomically: true, encoding: .utf8)
        let gateway = try RunningGateway(
            server: #"dns_refresh = "1s""#,
            extra: """
                [[route]]
                prefix = "/upstream"
                upstream = "http://upstream.test:\(first.port)"
                auth = "none"
                """,
            environment: ["AUTHGATE_HOSTS_FILE": hosts.path])
        // Several connections, so that each loop's pool keeps an idle connection to the first address.
        let kept = try RawClient(port: gateway.publicPort)
        #expect(try server(gateway, on: kept) == "127.0.0.1")
        for _ in 0..<6 { #expect(try server(gateway) == "127.0.0.1") }
        #expect(!gateway.log.contains("upstream addresses changed"), "an unchanged answer is no event")

        try "# moved\n127.0.0.3\tUPSTREAM.test\n".write(to: hosts, atomically: true, encoding: .utf8)
        #expect(gateway.waitForLog("upstream addresses changed"))
        #expect(gateway.log.contains("127.0.0.1:\(first.port)") && gateway.log.contains("127.0.0.3:\(first.port)"))
        // The idle connections to 127.0.0.1 were closed: no request reaches it any more, on old or new connections.
        #expect(try server(gateway, on: kept) == "127.0.0.3")
        for _ in 0..<6 { #expect(try server(gateway) == "127.0.0.3") }

        try "# nothing here\n".write(to: hosts, atomically: true, encoding: .utf8)
        #expect(gateway.waitForLog("upstream resolution failed"))
        let failure = gateway.log.split(separator: "\n").first { $0.contains("upstream resolution failed") }
        #expect(failure?.contains("upstream.test is not in AUTHGATE_HOSTS_FILE") == true, "\(failure ?? "")")
        #expect(failure?.contains("\"kept\":\"127.0.0.3:\(first.port)\"") == true, "\(failure ?? "")")
        for _ in 0..<4 { #expect(try server(gateway) == "127.0.0.3", "the last good address is kept") }
        _ = second
    }

    @Test func aConnectionBusyWhenItsAddressLeavesIsNotKept() throws {
        let first = try FixtureServer()
        let second = try FixtureServer(host: "127.0.0.3", port: first.port)
        let hosts = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: hosts) }
        try "127.0.0.1 upstream.test\n".write(to: hosts, atomically: true, encoding: .utf8)
        let gateway = try RunningGateway(
            server: #"dns_refresh = "1s""#,
            extra: """
                [[route]]
                prefix = "/upstream"
                upstream = "http://upstream.test:\(first.port)"
                auth = "none"
                """,
            environment: ["AUTHGATE_HOSTS_FILE": hosts.path])
        // A client connection stays on the loop that accepted it, and so do its upstream connections.
        let client = try RawClient(port: gateway.publicPort, timeoutSeconds: 10)
        try client.send("GET /upstream/slow HTTP/1.1\r\nHost: a\r\n\r\n")  // answered after 3 s
        try "127.0.0.3 upstream.test\n".write(to: hosts, atomically: true, encoding: .utf8)
        #expect(gateway.waitForLog("upstream addresses changed"))
        var byte: UInt8 = 0
        let waiting = recv(client.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        #expect(waiting < 0, "the slow answer was still under way when the address changed")
        let slow = try client.readResponse()
        let slowServer = (try JSONSerialization.jsonObject(with: Data(slow.body)) as? [String: Any])?["server"]
        #expect(slowServer as? String == "127.0.0.1", "the exchange in flight finishes where it started")
        // Its upstream connection was closed when it came back, not pooled: the next request goes to the new one.
        #expect(try server(gateway, on: client) == "127.0.0.3")
        _ = second
    }
}
