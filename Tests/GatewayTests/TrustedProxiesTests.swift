import Endpoints
import HTTP1
import Testing

@testable import Gateway

private let minimal = """
    [cognito]
    region = "eu-west-1"
    user_pool_id = "eu-west-1_Pool1"
    client_ids = ["client1"]
    """

/// A request head with `fields` ("Name: value" lines), parsed as the gateway parses them.
private func head(_ fields: [String]) throws -> RequestHead {
    let text = "GET / HTTP/1.1\r\nHost: a\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n"
    var decoder = RequestDecoder(limits: HTTPLimits())
    let bytes = Array(text.utf8)
    let (event, _) = try bytes.withUnsafeBytes { buffer throws(HTTPParseError) in try decoder.decode(buffer) }
    guard case .head(let head) = event else {
        Issue.record("not a head: \(text)")
        throw TestFailure()
    }
    return head
}

private struct TestFailure: Error {}

/// The client the chain names (nil: the peer) with `trusted` in front.
private func client(_ fields: [String], peer: String?, trusted: [String]) throws -> String? {
    let (proxies, refused) = TrustedProxies.parse(trusted)
    #expect(refused.isEmpty)
    let request = try head(fields)
    let peerAddress = try peer.map { try #require(IPAddress($0)) }
    return request.bytes.withUnsafeBytes { proxies.client(in: $0, fields: request.fields, peer: peerAddress) }?
        .description
}

@Suite struct TrustedProxiesTests {
    /// Fields, the peer, and the client: nginx's realip with `real_ip_recursive on` over 10.0.0.0/8 and ::1.
    @Test(
        arguments: [
            // No chain, or an untrusted peer: the peer.
            ([], "10.0.0.1", nil), (["X-Forwarded-For: 203.0.113.7"], "192.0.2.1", nil),
            (["X-Forwarded-For: 203.0.113.7"], "10.0.0.1", "203.0.113.7"),
            // The right-most entry that is not trusted; those left of it are not believed.
            (["X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.0.0.5"], "10.0.0.1", "203.0.113.7"),
            // Several fields are one list, in order.
            (
                ["X-Forwarded-For: 1.1.1.1", "X-Forwarded-For: 203.0.113.7, 10.0.0.5", "x-forwarded-for: 10.2.2.2"],
                "10.0.0.1", "203.0.113.7"
            ),
            (
                ["X-Forwarded-For: 198.51.100.1", "Accept: */*", "X-Forwarded-For: 10.0.0.9"], "10.0.0.1",
                "198.51.100.1"
            ),
            // Spaces, tabs and empty entries.
            (["X-Forwarded-For:   203.0.113.7 ,\t10.0.0.5 ,,  "], "10.0.0.1", "203.0.113.7"),
            (["X-Forwarded-For: ,,"], "10.0.0.1", nil), (["X-Forwarded-For:"], "10.0.0.1", nil),
            // Every entry trusted: the left-most.
            (["X-Forwarded-For: 10.9.9.9, 10.0.0.5"], "10.0.0.1", "10.9.9.9"),
            // A malformed entry stops the walk at the last address reached (the peer, or a trusted entry).
            (["X-Forwarded-For: unknown"], "10.0.0.1", nil), (["X-Forwarded-For: 1.1.1.1, garbage"], "10.0.0.1", nil),
            (["X-Forwarded-For: 1.1.1.1, garbage, 10.0.0.5"], "10.0.0.1", "10.0.0.5"),
            (["X-Forwarded-For: 1.1.1.1;2.2.2.2"], "10.0.0.1", nil), (["X-Forwarded-For: 01.1.1.1"], "10.0.0.1", nil),
            (["X-Forwarded-For: 1.1.1.1 2.2.2.2"], "10.0.0.1", "2.2.2.2"),
            (["X-Forwarded-For: example.com"], "10.0.0.1", nil), (["X-Forwarded-For: [::1]"], "10.0.0.1", nil),
            (["X-Forwarded-For: fe80::1%eth0"], "10.0.0.1", nil),
            // IPv6 entries and peers; IPv4-mapped ones are IPv4.
            (["X-Forwarded-For: 2001:DB8::7"], "::1", "2001:db8::7"),
            (["X-Forwarded-For: 2001:db8::7, ::1"], "10.0.0.1", "2001:db8::7"),
            (["X-Forwarded-For: ::ffff:203.0.113.7, ::ffff:10.0.0.5"], "::ffff:10.0.0.1", "203.0.113.7"),
            // Ports, as nginx reads them: "v4:port" and "[v6]:port", 1-65535.
            (["X-Forwarded-For: 203.0.113.7:5678"], "10.0.0.1", "203.0.113.7"),
            (["X-Forwarded-For: [2001:db8::7]:443, 10.0.0.5:80"], "10.0.0.1", "2001:db8::7"),
            (["X-Forwarded-For: 203.0.113.7:0"], "10.0.0.1", nil),
            (["X-Forwarded-For: 203.0.113.7:65536"], "10.0.0.1", nil),
            (["X-Forwarded-For: 203.0.113.7:"], "10.0.0.1", nil),
            (["X-Forwarded-For: 2001:db8::7:443x"], "10.0.0.1", nil),
            (["X-Forwarded-For: [2001:db8::7]443"], "10.0.0.1", nil),
            (["X-Forwarded-For: [203.0.113.7]:443"], "10.0.0.1", nil),
            // Other fields are not the chain.
            (["X-Real-IP: 203.0.113.7", "Forwarded: for=203.0.113.8"], "10.0.0.1", nil),
        ] as [([String], String, String?)])
    func chainNamesTheClient(fields: [String], peer: String, expected: String?) throws {
        #expect(try client(fields, peer: peer, trusted: ["10.0.0.0/8", "::1"]) == expected)
    }

    /// The in-place walk against the same rules written plainly with strings, on thousands of chains made of
    /// addresses, trusted ones, ports, garbage and separators in every order.
    @Test func walkAgreesWithAPlainReading() throws {
        let (proxies, _) = TrustedProxies.parse(["10.0.0.0/8", "::1"])
        let pieces = [
            "203.0.113.7", "10.0.0.5", "10.9.9.9:443", "[::1]:80", "::1", "2001:db8::7", "garbage", "1.2.3", ",", ", ",
            " ", "\t", ",,", "198.51.100.1:0", "[2001:db8::8]:8080",
        ]
        func plain(_ values: [String]) -> String? {
            let entries = values.flatMap { $0.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) }
            var reached: IPAddress?
            for entry in entries.reversed() {
                let bytes = Array(entry.utf8)
                guard let address = bytes.withUnsafeBytes({ IPAddress.parse(forwarded: $0) }) else { break }
                reached = address
                if !proxies.networks.contains(address) { break }
            }
            return reached?.description
        }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let values = (0..<Int.random(in: 1...3, using: &random)).map { _ in
                (0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            }
            let request = try head(values.map { "X-Forwarded-For: \($0)" })
            // The parser trims the field values as the gateway sees them; the plain reading gets the same values.
            let seen = request.bytes.withUnsafeBytes { raw in
                request.fields.map { String(decoding: raw[$0.value], as: UTF8.self) }
            }
            let walked = request.bytes.withUnsafeBytes {
                proxies.client(in: $0, fields: request.fields, peer: .v4(IPv4Address(10, 0, 0, 1)))
            }
            #expect(walked?.description == plain(Array(seen.dropFirst())), "\(values)")
        }
    }

    @Test func unixPeersAreTrustedOnlyWhenListed() throws {
        let fields = ["X-Forwarded-For: 203.0.113.7"]
        #expect(try client(fields, peer: nil, trusted: ["unix:"]) == "203.0.113.7")
        #expect(try client(fields, peer: nil, trusted: ["10.0.0.0/8"]) == nil)
        #expect(try client(fields, peer: "10.0.0.1", trusted: ["unix:"]) == nil)
        #expect(!TrustedProxies.parse(["unix:"]).0.isEmpty && TrustedProxies.none.isEmpty)
    }

    @Test func configurationReadsAndRefusesEntriesNamingThem() throws {
        let config = try ConfigLoader.parse(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.0.2.7\"]\ndns_refresh = \"5s\"\n" + minimal,
            environment: [:])
        #expect(
            config.server.trustedProxies.networks.networks.map(\.description) == [
                "10.0.0.0/8", "::1/128", "192.0.2.7/32",
            ])
        #expect(config.server.dnsRefresh == 5_000_000_000)
        let lines = ConfigSummary.lines(config)
        #expect(lines.contains("trusted_proxies: 10.0.0.0/8, ::1/128, 192.0.2.7/32"))
        #expect(lines.contains("dns_refresh: 5s"))
        let defaults = try ConfigLoader.parse(minimal, environment: [:])
        #expect(defaults.server.trustedProxies.isEmpty && defaults.server.dnsRefresh == 30_000_000_000)

        do {
            _ = try ConfigLoader.parse(
                "[server]\ntrusted_proxies = [\"10.1.2.3/8\", \"proxy.internal\", \"10.0.0.0/8\", \"10.0.0.0/8\"]\n"
                    + "dns_refresh = \"500ms\"\n" + minimal,
                environment: [:])
            Issue.record("accepted")
        } catch {
            let found = error.problems.map(\.description)
            #expect(found.count == 4, "\(found)")
            #expect(
                found.contains { $0.contains("server.trusted_proxies") && $0.contains("\"10.1.2.3/8\" has host bits") })
            #expect(found.contains { $0.contains("\"proxy.internal\" is not an IPv4") })
            #expect(found.contains { $0.contains("\"10.0.0.0/8\" is listed twice") })
            #expect(found.contains { $0.contains("server.dns_refresh") })
        }
    }
}
