/// The host of a URL: an IP address, or a DNS name that is resolved later (off the event loops).
package enum URLHost: Hashable, Sendable, CustomStringConvertible {
    /// A DNS name, lowercased (host names are case-insensitive).
    case name(String)
    case ipv4(IPv4Address)
    case ipv6(IPv6Address)

    /// The host as a URL and a Host field write it: an IPv6 address in brackets.
    package var uriText: String {
        if case .ipv6(let address) = self { return "[\(address)]" }
        return description
    }

    /// The bare name or address, as TLS verifies it and getaddrinfo takes it.
    package var description: String {
        switch self {
        case .name(let name): return name
        case .ipv4(let address): return address.description
        case .ipv6(let address): return address.description
        }
    }

    package var isIPAddress: Bool {
        if case .name = self { return false }
        return true
    }

    /// Parses the host of an authority: "[v6]", dotted IPv4, or a DNS name of letters, digits, "-" and "_"
    /// (labels of 1–63, at most 253 in all). A name whose last label is a number ("10.1", "1.2.3.256",
    /// "0x7f.1") is refused: resolvers read such text as an IPv4 address in inet_aton's loose forms.
    package init(_ text: some StringProtocol) throws(EndpointParseError) {
        self = try Self.parse(Array(text.utf8)[...])
    }

    static func parse(_ bytes: ArraySlice<UInt8>) throws(EndpointParseError) -> URLHost {
        let text = String(decoding: bytes, as: UTF8.self)
        guard !bytes.isEmpty else { throw EndpointParseError(.host, "the host is empty") }
        if bytes.first == UInt8(ascii: "[") {
            guard bytes.count > 2, bytes.last == UInt8(ascii: "]") else {
                throw EndpointParseError(.host, "\"\(text)\" is not an IPv6 address in brackets")
            }
            guard let address = IPv6Address.parse(bytes.dropFirst().dropLast()) else {
                throw EndpointParseError(.host, "\"\(text.dropFirst().dropLast())\" is not an IPv6 address")
            }
            return .ipv6(address)
        }
        if let address = IPv4Address.parse(bytes) { return .ipv4(address) }
        guard bytes.count <= 253 else { throw EndpointParseError(.host, "the host name is longer than 253 bytes") }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            let valid =
                !label.isEmpty && label.count <= 63 && label.first != UInt8(ascii: "-")
                && label.last != UInt8(ascii: "-")
                && label.allSatisfy { ASCII.isLetter($0) || ASCII.isDigit($0) || $0 == 0x2D || $0 == 0x5F }
            guard valid else {
                throw EndpointParseError(
                    .host, "\"\(text)\" is not an IPv4 address, an IPv6 address in brackets or a host name")
            }
        }
        if let last = labels.last, Self.isNumeric(last) {
            throw EndpointParseError(.host, "\"\(text)\" is neither a dotted IPv4 address nor a host name")
        }
        return .name(String(decoding: bytes.map(ASCII.lowercased), as: UTF8.self))
    }

    /// Decimal, or hexadecimal with "0x": what inet_aton would take for part of an address.
    private static func isNumeric(_ label: ArraySlice<UInt8>) -> Bool {
        if label.allSatisfy(ASCII.isDigit) { return true }
        guard label.count >= 2, label.first == UInt8(ascii: "0"), ASCII.lowercased(label[label.startIndex + 1]) == 0x78
        else { return false }
        return label.dropFirst(2).allSatisfy(ASCII.isHexDigit)
    }
}
