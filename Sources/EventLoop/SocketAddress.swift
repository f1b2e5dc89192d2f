internal import CSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A socket address as the configuration writes it: "HOST:PORT", "[V6]:PORT" or "unix:/path";
/// listeners bind to them and upstream connections connect to them.
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    case ipv4(String, port: UInt16)
    case ipv6(String, port: UInt16)
    case unix(String)

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public var description: String {
        switch self {
        case .ipv4(let host, let port): return "\(host):\(port)"
        case .ipv6(let host, let port): return "[\(host)]:\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// Parses a listen address. Hosts are IP literals, "localhost" or "*": a daemon that binds must not
    /// depend on name resolution at start.
    public static func parse(_ text: String) throws(ParseError) -> SocketAddress {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else { throw ParseError(description: "a unix socket path must be absolute") }
            guard path.utf8.count < 108 else { throw ParseError(description: "unix socket path longer than 107 bytes") }
            return .unix(path)
        }
        let host: String
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ParseError(description: "missing ']'") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ParseError(description: "expected \"[ADDRESS]:PORT\"") }
            portText = rest.dropFirst()
            guard isIPv6(host) else { throw ParseError(description: "\"\(host)\" is not an IPv6 address") }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ParseError(description: "expected \"HOST:PORT\"") }
            let rawHost = String(text[..<colon])
            portText = text[text.index(after: colon)...]
            switch rawHost {
            case "*", "": host = "0.0.0.0"
            case "localhost": host = "127.0.0.1"
            default: host = rawHost
            }
            guard isIPv4(host) else {
                throw ParseError(description: "\"\(rawHost)\" is not an IPv4 address, \"localhost\" or \"*\"")
            }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit),
            let port = Int(portText), port <= 65535
        else { throw ParseError(description: "port must be a number from 0 to 65535") }
        return text.hasPrefix("[") ? .ipv6(host, port: UInt16(port)) : .ipv4(host, port: UInt16(port))
    }

    static func isIPv4(_ host: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, host, &address) == 1
    }

    static func isIPv6(_ host: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, host, &address) == 1
    }
}

extension SocketAddress {
    var family: Int32 {
        switch self {
        case .ipv4: return AF_INET
        case .ipv6: return AF_INET6
        case .unix: return AF_UNIX
        }
    }

    /// Calls `body` with this address as a C `sockaddr` and its length, for bind and connect.
    func withCSocketAddress<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        func call<Address>(_ address: inout Address) -> Result {
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    body($0, socklen_t(MemoryLayout<Address>.size))
                }
            }
        }
        switch self {
        case .ipv4(let host, let port):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &address.sin_addr)
            return call(&address)
        case .ipv6(let host, let port):
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            return call(&address)
        case .unix(let path):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { pathBytes in
                // Paths are checked to fit (107 bytes) when the configuration is read; the last byte stays NUL.
                for (index, byte) in path.utf8.prefix(pathBytes.count - 1).enumerated() { pathBytes[index] = byte }
            }
            return call(&address)
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// The printable address of a peer ("127.0.0.1", "::1", or "unix" for unix sockets).
func peerAddressText(_ storage: UnsafePointer<sockaddr_storage>) -> String {
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    switch Int32(storage.pointee.ss_family) {
    case AF_INET:
        return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
            var address = pointer.pointee.sin_addr
            guard inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
            return cStringText(buffer)
        }
    case AF_INET6:
        return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
            var address = pointer.pointee.sin6_addr
            guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
            let text = cStringText(buffer)
            // An IPv4 client on a dual-stack socket: log it as IPv4, as nginx does.
            return text.hasPrefix("::ffff:") && text.contains(".") ? String(text.dropFirst(7)) : text
        }
    default:
        return "unix"
    }
}

/// The text of a NUL-terminated C buffer.
/// The text of a NUL-terminated C string held in an array (what inet_ntop and getnameinfo fill).
public func cStringText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
