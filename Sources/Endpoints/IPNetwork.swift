/// An IP address of either family. An IPv4-mapped IPv6 address ("::ffff:192.0.2.1", what a dual-stack socket
/// reports for an IPv4 peer) is always its IPv4 address here, so that one client has one address whichever way
/// it is written.
package enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// An IPv6 address, or the IPv4 address it maps.
    package init(_ address: IPv6Address) {
        if address.high == 0 && address.low >> 32 == 0xFFFF {
            self = .v4(IPv4Address(value: UInt32(truncatingIfNeeded: address.low)))
        } else {
            self = .v6(address)
        }
    }

    /// Dotted-decimal IPv4 or RFC 4291 IPv6 text, bare (no brackets, no port, no zone); allocates nothing.
    package static func parse(_ text: UnsafeRawBufferPointer) -> IPAddress? {
        if let v4 = IPv4Address.parse(text) { return .v4(v4) }
        return IPv6Address.parse(text).map(IPAddress.init)
    }

    /// An `X-Forwarded-For` entry: a bare address, or as nginx's realip also reads them, "192.0.2.1:PORT" and
    /// "[2001:db8::1]:PORT" (port 1–65535, dropped). Anything else ("unknown", a name, "[::1]" without a port, a
    /// zone) is nil. Allocates nothing: it runs on the request path, on a client's bytes.
    package static func parse(forwarded text: UnsafeRawBufferPointer) -> IPAddress? {
        if let address = parse(text) { return address }
        let colon = UInt8(ascii: ":")
        guard let first = text.first else { return nil }
        if first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")), close + 1 < text.count, text[close + 1] == colon,
                let v6 = IPv6Address.parse(UnsafeRawBufferPointer(rebasing: text[1..<close])),
                isPort(UnsafeRawBufferPointer(rebasing: text[(close + 2)...]))
            else { return nil }
            return IPAddress(v6)
        }
        guard let separator = text.firstIndex(of: colon),
            let v4 = IPv4Address.parse(UnsafeRawBufferPointer(rebasing: text[..<separator])),
            isPort(UnsafeRawBufferPointer(rebasing: text[(separator + 1)...]))
        else { return nil }
        return .v4(v4)
    }

    /// 1–65535 in decimal, at most five digits.
    private static func isPort(_ text: UnsafeRawBufferPointer) -> Bool {
        guard !text.isEmpty, text.count <= 5 else { return false }
        var value = 0
        for byte in text {
            guard ASCII.isDigit(byte) else { return false }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value >= 1 && value <= 65535
    }

    package init?(_ text: String) {
        var text = text
        guard let parsed = text.withUTF8({ Self.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }

    /// The text logs and `X-Real-IP` carry: dotted decimal, or RFC 5952.
    package var description: String {
        switch self {
        case .v4(let address): return address.description
        case .v6(let address): return address.description
        }
    }
}

/// A CIDR block ("10.0.0.0/8", "2001:db8::/32"; a bare address is /32 or /128), parsed once into the masks that
/// match an address with two integer compares at most.
package struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    private enum Block: Hashable, Sendable {
        case v4(base: UInt32, mask: UInt32)
        case v6(high: UInt64, low: UInt64, highMask: UInt64, lowMask: UInt64)
    }

    private let block: Block
    /// The prefix length, for the text.
    package let prefixLength: Int

    /// Refuses, with the reason as a sentence: a bad address, a bad prefix length, host bits set past the prefix
    /// ("10.1.2.3/8" is a typo for either "10.0.0.0/8" or "10.1.2.3/32": authgate does not guess which, where
    /// nginx masks it with a warning), and IPv4-mapped IPv6 networks (those addresses are matched as IPv4).
    package init(_ text: String) throws(EndpointParseError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else {
            throw EndpointParseError(.host, "is not an IPv4 or IPv6 address, or a CIDR block such as \"10.0.0.0/8\"")
        }
        if case .v4 = address, parts[0].contains(":") {
            throw EndpointParseError(
                .host, "is an IPv4-mapped IPv6 network: write the IPv4 one (\"10.0.0.0/8\"), which also matches them")
        }
        let maximum: Int
        if case .v4 = address { maximum = 32 } else { maximum = 128 }
        var length = maximum
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.utf8.allSatisfy(ASCII.isDigit),
                digits.count == 1 || digits.first != "0", let value = Int(digits), value <= maximum
            else {
                throw EndpointParseError(.host, "has a prefix length that is not 0–\(maximum)")
            }
            length = value
        }
        prefixLength = length
        switch address {
        case .v4(let v4):
            let mask: UInt32 = length == 0 ? 0 : ~0 << UInt32(32 - length)
            guard v4.value & ~mask == 0 else {
                throw EndpointParseError(
                    .host,
                    "has host bits set: write \"\(IPv4Address(value: v4.value & mask))/\(length)\", "
                        + "or \"\(v4)/32\" for the one address")
            }
            block = .v4(base: v4.value, mask: mask)
        case .v6(let v6):
            let highMask: UInt64 = length == 0 ? 0 : length >= 64 ? ~0 : ~0 << UInt64(64 - length)
            let lowMask: UInt64 = length <= 64 ? 0 : length == 128 ? ~0 : ~0 << UInt64(128 - length)
            guard v6.high & ~highMask == 0, v6.low & ~lowMask == 0 else {
                let network = IPv6Address(high: v6.high & highMask, low: v6.low & lowMask)
                throw EndpointParseError(
                    .host, "has host bits set: write \"\(network)/\(length)\", or \"\(v6)/128\" for the one address")
            }
            block = .v6(high: v6.high, low: v6.low, highMask: highMask, lowMask: lowMask)
        }
    }

    package func contains(_ address: IPAddress) -> Bool {
        switch (block, address) {
        case (.v4(let base, let mask), .v4(let v4)):
            return v4.value & mask == base
        case (.v6(let high, let low, let highMask, let lowMask), .v6(let v6)):
            return v6.high & highMask == high && v6.low & lowMask == low
        default:
            return false
        }
    }

    package var description: String {
        switch block {
        case .v4(let base, _): return "\(IPv4Address(value: base))/\(prefixLength)"
        case .v6(let high, let low, _, _): return "\(IPv6Address(high: high, low: low))/\(prefixLength)"
        }
    }
}

/// A list of networks matched in order; what `server.trusted_proxies` becomes.
package struct IPNetworkList: Hashable, Sendable {
    package let networks: [IPNetwork]

    package init(_ networks: [IPNetwork]) { self.networks = networks }

    package var isEmpty: Bool { networks.isEmpty }

    package func contains(_ address: IPAddress) -> Bool {
        for network in networks where network.contains(address) { return true }
        return false
    }
}
