package import Endpoints
package import HTTP1

/// `server.trusted_proxies`: the peers whose `X-Forwarded-For` authgate believes, and the one reading of that
/// chain (nginx's realip with `real_ip_recursive on`). From a trusted peer, the client is the right-most entry
/// that is not itself trusted, walking every `X-Forwarded-For` field from the last; from any other peer the
/// chain changes nothing. Matching is integer compares on addresses parsed without allocating.
package struct TrustedProxies: Sendable, Equatable {
    package let networks: IPNetworkList
    /// "unix:" in the list: a proxy on this host that connects through a unix socket.
    package let unixPeers: Bool

    package static let none = TrustedProxies(networks: IPNetworkList([]), unixPeers: false)

    package init(networks: IPNetworkList, unixPeers: Bool) {
        self.networks = networks
        self.unixPeers = unixPeers
    }

    /// Reads the configured entries: CIDR blocks, bare addresses (/32, /128) and "unix:". Each refused entry comes
    /// back with why, for a configuration message naming it.
    package static func parse(_ entries: [String]) -> (TrustedProxies, refused: [(entry: String, reason: String)]) {
        var networks: [IPNetwork] = []
        var unixPeers = false
        var refused: [(entry: String, reason: String)] = []
        for entry in entries {
            if entry == "unix:" {
                unixPeers = true
                continue
            }
            do {
                let network = try IPNetwork(entry)
                if networks.contains(network) {
                    refused.append((entry, "is listed twice"))
                } else {
                    networks.append(network)
                }
            } catch {
                refused.append((entry, error.description))
            }
        }
        return (TrustedProxies(networks: IPNetworkList(networks), unixPeers: unixPeers), refused)
    }

    /// Nothing is trusted: the client is always the peer, and nothing of this runs per request.
    package var isEmpty: Bool { networks.isEmpty && !unixPeers }

    /// Whether a peer (nil: a unix socket) is a trusted proxy.
    package func trusts(_ peer: IPAddress?) -> Bool {
        guard let peer else { return unixPeers }
        return networks.contains(peer)
    }

    /// The client a trusted peer names, or nil when the client is the peer itself: the peer is not trusted, there
    /// is no `X-Forwarded-For`, or its right-most entry is malformed. A malformed entry stops the walk, and the
    /// client is then the last address reached (a trusted one): nothing left of it can be believed. When every
    /// entry is trusted, the client is the left-most.
    package func client(in raw: UnsafeRawBufferPointer, fields: [HeaderField], peer: IPAddress?) -> IPAddress? {
        guard trusts(peer) else { return nil }
        var reached: IPAddress?
        var index = fields.endIndex
        while index > fields.startIndex {
            index -= 1
            let field = fields[index]
            guard raw.equalsLowercase(field.name, "x-forwarded-for") else { continue }
            let start = field.value.lowerBound
            var end = field.value.upperBound
            while true {
                while end > start && Self.isSeparator(raw[end - 1]) { end -= 1 }
                guard end > start else { break }
                var begin = end
                while begin > start && !Self.isSeparator(raw[begin - 1]) { begin -= 1 }
                guard let address = IPAddress.parse(forwarded: UnsafeRawBufferPointer(rebasing: raw[begin..<end]))
                else {
                    return reached
                }
                reached = address
                if !networks.contains(address) { return address }
                end = begin
            }
        }
        return reached
    }

    /// Entries are separated by commas; spaces and tabs around them are not part of them, and empty ones are
    /// skipped, as nginx does.
    private static func isSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ",") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
