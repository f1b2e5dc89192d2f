import Endpoints
import Testing

@Suite struct IPAddressTests {
    @Test(
        arguments: [
            ("0.0.0.0", 0), ("127.0.0.1", 0x7F00_0001), ("255.255.255.255", 0xFFFF_FFFF), ("10.20.30.40", 0x0A14_1E28),
        ] as [(String, UInt32)])
    func ipv4(text: String, value: UInt32) {
        #expect(IPv4Address(text)?.value == value)
        #expect(IPv4Address(text)?.description == text)
    }

    @Test(arguments: [
        "", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1..2.3", "1.2.3.", " 1.2.3.4", "0x1.2.3.4",
        "1.2.3.4 ", "1.2.3.-4", "1234.1.1.1",
    ])
    func badIPv4(text: String) {
        #expect(IPv4Address(text) == nil)
    }

    /// Parsed text, and RFC 5952's canonical text for it.
    @Test(arguments: [
        ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("0:0:0:0:0:0:0:1", "::1"),
        ("2001:DB8:0:0:8:800:200C:417A", "2001:db8::8:800:200c:417a"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"), ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("::FFFF:c000:0201", "::ffff:192.0.2.1"),
        ("fd00:ec2::23", "fd00:ec2::23"), ("fd00:ec2:0:0:0:0:0:23", "fd00:ec2::23"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
    ])
    func ipv6(text: String, canonical: String) {
        #expect(IPv6Address(text)?.description == canonical)
        #expect(IPv6Address(canonical) == IPv6Address(text))
    }

    @Test(arguments: [
        "", ":", ":::", "1", "1:2", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "::1:", "12345::", "g::", "::1%eth0",
        "1:2:3:4:5:6:7::8", "::1.2.3", "1.2.3.4::", "::256.0.0.1", "[::1]",
    ])
    func badIPv6(text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test func bytesRoundTrip() {
        let address = IPv6Address("2001:db8::8:800:200c:417a")!
        #expect(address.bytes.count == 16)
        #expect(IPv6Address(bytes: address.bytes) == address)
        #expect(IPv4Address(192, 0, 2, 1).octets == [192, 0, 2, 1])
        #expect(IPv4Address(127, 9, 9, 9).isLoopback && !IPv4Address(128, 0, 0, 1).isLoopback)
    }
}

/// A listen address the parser accepts, and its value.
struct GoodListenAddress: CustomStringConvertible, Sendable {
    let text: String
    let address: SocketAddress
    var description: String { text }
}

@Suite struct SocketAddressTests {
    static let good: [GoodListenAddress] = [
        GoodListenAddress(text: "127.0.0.1:8080", address: .ipv4(.loopback, port: 8080)),
        GoodListenAddress(text: "localhost:80", address: .ipv4(.loopback, port: 80)),
        GoodListenAddress(text: "*:9901", address: .ipv4(.any, port: 9901)),
        GoodListenAddress(text: ":0", address: .ipv4(.any, port: 0)),
        GoodListenAddress(text: "0.0.0.0:65535", address: .ipv4(.any, port: 65535)),
        GoodListenAddress(text: "[::1]:8080", address: .ipv6(.loopback, port: 8080)),
        GoodListenAddress(text: "[::]:443", address: .ipv6(.any, port: 443)),
        GoodListenAddress(text: "unix:/run/authgate/gw.sock", address: .unix("/run/authgate/gw.sock")),
        GoodListenAddress(
            text: "unix:/" + String(repeating: "a", count: 106),
            address: .unix("/" + String(repeating: "a", count: 106))),
    ]

    @Test(arguments: good)
    func accepts(_ good: GoodListenAddress) throws {
        #expect(try SocketAddress.parse(good.text) == good.address)
    }

    static let bad: [(String, EndpointParseError.Reason)] = [
        ("127.0.0.1", .port), ("127.0.0.1:", .port), ("127.0.0.1:70000", .port), ("127.0.0.1:http", .port),
        ("127.0.0.1:-1", .port), ("127.0.0.1: 80", .port), ("example.com:80", .host), ("127.1:80", .host),
        ("::1:80", .host), ("[::1:80", .authority), ("[::1]", .port), ("[::1]80", .port), ("[1::2::3]:80", .host),
        ("[127.0.0.1]:80", .host), ("unix:relative.sock", .unixPath), ("unix:", .unixPath),
        ("unix:/" + String(repeating: "a", count: 107), .unixPath), ("unix:/tmp/a\u{0}b", .unixPath),
        ("unix:/tmp/a\nb", .unixPath),
    ]

    @Test(arguments: bad)
    func refuses(text: String, reason: EndpointParseError.Reason) {
        #expect {
            _ = try SocketAddress.parse(text)
        } throws: { error in
            (error as? EndpointParseError)?.reason == reason
        }
    }

    @Test func describesItselfAsItIsWritten() throws {
        for text in ["127.0.0.1:8080", "[::1]:8080", "unix:/run/x.sock", "[2001:db8::1]:1"] {
            #expect(try SocketAddress.parse(text).description == text)
        }
    }
}
