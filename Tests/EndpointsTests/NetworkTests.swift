import Endpoints
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct IPNetworkTests {
    /// A network, an address inside it and one just outside.
    @Test(
        arguments: [
            ("10.0.0.0/8", "10.255.255.255", "11.0.0.0"), ("192.0.2.1", "192.0.2.1", "192.0.2.2"),
            ("192.0.2.1/32", "192.0.2.1", "192.0.2.0"), ("0.0.0.0/0", "203.0.113.9", "::1"),
            ("172.16.0.0/12", "172.31.0.1", "172.32.0.1"), ("127.0.0.2/31", "127.0.0.3", "127.0.0.4"),
            ("::1/128", "::1", "::2"), ("::1", "::1", "127.0.0.1"), ("2001:db8::/32", "2001:db8:ffff::1", "2001:db9::"),
            ("fd00::/8", "fdff::1", "fe00::"), ("2001:db8:0:0:8000::/65", "2001:db8::8000:0:0:1", "2001:db8::1"),
            ("::/0", "2001:db8::1", "10.0.0.1"),
            // An IPv4-mapped peer is its IPv4 address: the IPv4 network holds it, no IPv6 one does.
            ("10.0.0.0/8", "::ffff:10.1.2.3", "::ffff:11.1.2.3"), ("::/0", "::1", "::ffff:10.1.2.3"),
        ] as [(String, String, String)])
    func networkHoldsItsAddressesOnly(network: String, inside: String, outside: String) throws {
        let parsed = try IPNetwork(network)
        #expect(parsed.contains(try #require(IPAddress(inside))))
        #expect(!parsed.contains(try #require(IPAddress(outside))))
    }

    @Test(
        arguments: [
            ("10.0.0.0/8", "10.0.0.0/8"), ("192.0.2.1", "192.0.2.1/32"), ("::1", "::1/128"),
            ("2001:DB8::/32", "2001:db8::/32"), ("0.0.0.0/0", "0.0.0.0/0"),
        ])
    func networkTextIsCanonical(text: String, canonical: String) throws {
        #expect(try IPNetwork(text).description == canonical)
    }

    /// Refused networks, and a word of the reason.
    @Test(
        arguments: [
            ("10.1.2.3/8", "host bits set: write \"10.0.0.0/8\", or \"10.1.2.3/32\""),
            ("2001:db8::1/32", "host bits set: write \"2001:db8::/32\""), ("10.0.0.0/33", "prefix length"),
            ("::/129", "prefix length"), ("10.0.0.0/", "prefix length"), ("10.0.0.0/08", "prefix length"),
            ("10.0.0.0/-1", "prefix length"), ("10.0.0.0/8/8", "prefix length"), ("10.0.0/8", "not an IPv4"),
            ("", "not an IPv4"), ("localhost", "not an IPv4"), ("[::1]/128", "not an IPv4"),
            ("::1%lo/128", "not an IPv4"), ("::ffff:10.0.0.0/104", "IPv4-mapped"), (" 10.0.0.0/8", "not an IPv4"),
        ])
    func badNetworkIsRefused(text: String, reason: String) {
        #expect {
            _ = try IPNetwork(text)
        } throws: { error in
            (error as? EndpointParseError)?.description.contains(reason) == true
        }
    }

    @Test func listMatchesAnyOfItsNetworks() throws {
        let list = IPNetworkList([try IPNetwork("10.0.0.0/8"), try IPNetwork("::1")])
        #expect(list.contains(try #require(IPAddress("10.9.9.9"))))
        #expect(list.contains(try #require(IPAddress("::1"))))
        #expect(!list.contains(try #require(IPAddress("192.0.2.1"))))
        #expect(!IPNetworkList([]).contains(try #require(IPAddress("10.0.0.1"))) && IPNetworkList([]).isEmpty)
    }

    @Test func mappedAddressesAreIPv4() throws {
        #expect(IPAddress("::ffff:192.0.2.1") == .v4(IPv4Address(192, 0, 2, 1)))
        #expect(IPAddress("::ffff:192.0.2.1")?.description == "192.0.2.1")
        #expect(IPAddress("2001:DB8::1")?.description == "2001:db8::1")
        #expect(IPAddress("::1:2") == .v6(IPv6Address(high: 0, low: 0x0001_0002)))
    }

    /// The text written for addresses with every shape of zero runs, against glibc's `inet_ntop` (both follow
    /// RFC 5952), and the texts of IPv4 addresses against it too.
    @Test func textAgreesWithInetNtop() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            var groups = (0..<8).map { _ in UInt16.random(in: 0...UInt16.max, using: &random) }
            for position in groups.indices where Bool.random(using: &random) { groups[position] = 0 }
            if Int.random(in: 0..<4, using: &random) == 0 { groups[Int.random(in: 0..<8, using: &random)] = 0x0A }
            let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
            let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
            let address = IPv6Address(high: high, low: low)
            // glibc writes the deprecated IPv4-compatible form ("::1.2.3.4") that RFC 5952 does not.
            if groups[0..<6].allSatisfy({ $0 == 0 }) && groups[6] != 0 { continue }
            var bytes = address.bytes
            var text = [CChar](repeating: 0, count: 64)
            _ = inet_ntop(AF_INET6, &bytes, &text, 64)
            #expect(address.description == String(cString: text), "\(groups)")
            #expect(IPv6Address(address.description) == address)
            var v4 = in_addr(s_addr: UInt32(truncatingIfNeeded: low).bigEndian)
            _ = inet_ntop(AF_INET, &v4, &text, 64)
            #expect(IPv4Address(value: UInt32(truncatingIfNeeded: low)).description == String(cString: text))
        }
    }

    /// The one-pass parsers against glibc's `inet_pton` (the reading the kernel's tools use) on thousands of
    /// texts mutated from valid ones: both accept the same texts and read the same bits.
    @Test func parsersAgreeWithInetPton() {
        let seeds = [
            "0.0.0.0", "255.255.255.255", "192.0.2.1", "10.20.30.40", "::", "::1", "1::", "2001:db8::8:800:200c:417a",
            "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "fe80::1:2", "abcd:ef01::2345:6789",
        ]
        let alphabet = Array("0123456789abcdefABCDEFg.:%[] ".utf8)
        var random = SystemRandomNumberGenerator()
        var checked = 0
        for seed in seeds {
            for _ in 0..<800 {
                var bytes = Array(seed.utf8)
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    let position = Int.random(in: 0...bytes.count, using: &random)
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: bytes.insert(alphabet.randomElement(using: &random)!, at: position)
                    case 1 where position < bytes.count: bytes.remove(at: position)
                    default:
                        if position < bytes.count { bytes[position] = alphabet.randomElement(using: &random)! }
                    }
                }
                let text = String(decoding: bytes, as: UTF8.self)
                var v4 = in_addr()
                var v6 = in6_addr()
                let expected4 = inet_pton(AF_INET, text, &v4) == 1 ? UInt32(bigEndian: v4.s_addr) : nil
                let expected6 =
                    inet_pton(AF_INET6, text, &v6) == 1 ? withUnsafeBytes(of: &v6) { IPv6Address(bytes: $0) } : nil
                let got4 = bytes.withUnsafeBytes { IPv4Address.parse($0) }
                let got6 = bytes.withUnsafeBytes { IPv6Address.parse($0) }
                #expect(got4?.value == expected4, "IPv4 \(text)")
                #expect(got6 == expected6, "IPv6 \(text)")
                checked += 1
            }
        }
        #expect(checked == seeds.count * 800)
    }
}
