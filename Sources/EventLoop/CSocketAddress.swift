internal import CSystem
package import Endpoints

#if canImport(Glibc)
    import Glibc
#endif

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
            address.sin_addr.s_addr = host.value.bigEndian
            return call(&address)
        case .ipv6(let host, let port):
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin6_addr) { raw in
                for (index, byte) in host.bytes.enumerated() { raw[index] = byte }
            }
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

/// Why a name did not resolve: `getaddrinfo`'s own words ("Name or service not known").
package struct NameResolutionError: Error, Sendable, CustomStringConvertible {
    package let description: String

    package init(_ description: String) { self.description = description }
}

extension SocketAddress {
    /// Every address `getaddrinfo` finds for `name`, IPv4 and IPv6, in its order and without repeats. It blocks:
    /// call it at start, on reload or on the resolver's queue, never on a loop.
    package static func resolving(_ name: String, port: UInt16) -> Result<[SocketAddress], NameResolutionError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &result)
        guard status == 0 else { return .failure(NameResolutionError(String(cString: gai_strerror(status)))) }
        defer { freeaddrinfo(result) }
        var found: [SocketAddress] = []
        var entry = result
        while let current = entry {
            entry = current.pointee.ai_next
            guard let address = current.pointee.ai_addr else { continue }
            let resolved: SocketAddress?
            switch current.pointee.ai_family {
            case AF_INET:
                let value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                resolved = .ipv4(IPv4Address(value: UInt32(bigEndian: value)), port: port)
            case AF_INET6:
                var bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                resolved = withUnsafeBytes(of: &bytes) { IPv6Address(bytes: $0) }.map { .ipv6($0, port: port) }
            default:
                resolved = nil
            }
            if let resolved, !found.contains(resolved) { found.append(resolved) }
        }
        guard !found.isEmpty else { return .failure(NameResolutionError("no IPv4 or IPv6 address")) }
        return .success(found)
    }
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

/// The peer's address as a value, read once per connection (nil for unix sockets): what `trusted_proxies` is
/// matched against, with integer compares.
func peerIPAddress(_ storage: UnsafePointer<sockaddr_storage>) -> IPAddress? {
    switch Int32(storage.pointee.ss_family) {
    case AF_INET:
        let value = storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
        return .v4(IPv4Address(value: UInt32(bigEndian: value)))
    case AF_INET6:
        var bytes = storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
        return withUnsafeBytes(of: &bytes) { IPv6Address(bytes: $0) }.map(IPAddress.init)
    default:
        return nil
    }
}

/// The text of a NUL-terminated C string held in an array (what inet_ntop and getnameinfo fill).
package func cStringText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
