/// A socket address as the configuration writes it: "HOST:PORT", "[V6]:PORT" or "unix:/path". Listeners
/// bind to them and upstream connections connect to them (EventLoop turns them into a C `sockaddr`).
package enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    case ipv4(IPv4Address, port: UInt16)
    case ipv6(IPv6Address, port: UInt16)
    case unix(String)

    /// `sun_path` holds 108 bytes with its terminating NUL.
    package static let maxUnixPathBytes = 107

    package var description: String {
        switch self {
        case .ipv4(let host, let port): return "\(host):\(port)"
        case .ipv6(let host, let port): return "[\(host)]:\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// Parses a listen address. Hosts are IP literals, "localhost" (127.0.0.1) or "*" and "" (0.0.0.0):
    /// a daemon that binds must not depend on name resolution at start. Port 0 asks for any free port.
    package static func parse(_ text: String) throws(EndpointParseError) -> SocketAddress {
        if text.hasPrefix("unix:") { return .unix(try unixPath(String(text.dropFirst(5)))) }
        let bytes = Array(text.utf8)
        let withPort: (UInt16) -> SocketAddress
        let portText: ArraySlice<UInt8>
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else {
                throw EndpointParseError(.authority, "missing ']'")
            }
            guard close + 1 < bytes.endIndex, bytes[close + 1] == UInt8(ascii: ":") else {
                throw EndpointParseError(.port, "expected \"[ADDRESS]:PORT\"")
            }
            let inside = bytes[1..<close]
            guard let address = IPv6Address.parse(inside) else {
                throw EndpointParseError(.host, "\"\(String(decoding: inside, as: UTF8.self))\" is not an IPv6 address")
            }
            withPort = { .ipv6(address, port: $0) }
            portText = bytes[(close + 2)...]
        } else {
            guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")) else {
                throw EndpointParseError(.port, "expected \"HOST:PORT\"")
            }
            let rawHost = bytes[..<colon]
            portText = bytes[(colon + 1)...]
            switch String(decoding: rawHost, as: UTF8.self) {
            case "*", "": withPort = { .ipv4(.any, port: $0) }
            case "localhost": withPort = { .ipv4(.loopback, port: $0) }
            case let name:
                if let address = IPv4Address.parse(rawHost) {
                    withPort = { .ipv4(address, port: $0) }
                } else if rawHost.contains(UInt8(ascii: ":")) {
                    throw EndpointParseError(.host, "\"\(name)\" looks like IPv6: write it \"[ADDRESS]:PORT\"")
                } else {
                    throw EndpointParseError(.host, "\"\(name)\" is not an IPv4 address, \"localhost\" or \"*\"")
                }
            }
        }
        guard let port = StrictURL.port(portText) else {
            throw EndpointParseError(.port, "port must be a number from 0 to 65535")
        }
        return withPort(port)
    }

    /// A unix socket path as a listener or an upstream names it: absolute, short enough for `sun_path`, and
    /// free of control bytes (a NUL would cut the path the kernel sees short of the one configured).
    package static func unixPath(_ path: String) throws(EndpointParseError) -> String {
        guard path.hasPrefix("/") else { throw EndpointParseError(.unixPath, "a unix socket path must be absolute") }
        guard path.utf8.count <= maxUnixPathBytes else {
            throw EndpointParseError(.unixPath, "unix socket path longer than \(maxUnixPathBytes) bytes")
        }
        guard !path.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw EndpointParseError(.unixPath, "a unix socket path may not contain a control character")
        }
        return path
    }
}
