import Cryptography
import EventLoop
import HTTP1
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The upstream pools (one per route and loop) and what exchanges share.
final class Proxy: Sendable {
    private let pools: [String: [UpstreamPool]]
    /// TLS settings of https:// routes, by prefix.
    private let tls: [String: (context: TLSClientContext, host: String)]
    let settings: ProxySettings
    let logger: Logger

    init(routes: [RouteSettings], group: EventLoopGroup, settings: ProxySettings, logger: Logger)
        throws(UpstreamSetupError)
    {
        var pools: [String: [UpstreamPool]] = [:]
        var tls: [String: (context: TLSClientContext, host: String)] = [:]
        for route in routes {
            let address = try Self.resolve(route.upstream)
            pools[route.prefix] = group.loops.map { UpstreamPool(loop: $0, address: address) }
            if case .https(let host, _, _) = route.upstream {
                do {
                    tls[route.prefix] = (try TLSClientContext(caFile: route.caFile), host)
                } catch {
                    throw UpstreamSetupError(
                        code: .tlsSettings, description: "route \(route.prefix): \(error.description)")
                }
            }
        }
        self.pools = pools
        self.tls = tls
        self.settings = settings
        self.logger = logger
    }

    /// Starts an exchange for `head` on `route`, taking the request body from now on.
    func exchange(for head: RequestHead, route: RouteSettings, client: ClientConnection) -> ProxyExchange {
        let pool = pools[route.prefix]![client.loop.index]
        let exchange = ProxyExchange(
            client: client, head: head, route: route, pool: pool, tls: tls[route.prefix], settings: settings,
            logger: logger
        )
        client.bodyConsumer = exchange
        return exchange
    }

    /// A reload replaced this proxy: each pool, on its loop, closes its idle connections and keeps no more.
    func retire() {
        for pools in pools.values {
            for pool in pools { pool.loop.execute { pool.retire() } }
        }
    }

    /// Upstream hosts are resolved once, at start: no name lookup ever blocks a loop.
    static func resolve(_ upstream: Upstream) throws(UpstreamSetupError) -> SocketAddress {
        switch upstream {
        case .unix(let path):
            return .unix(path)
        case .http(let host, let port, _), .https(let host, let port, _):
            if host == "localhost" { return .ipv4("127.0.0.1", port: port) }
            var v4 = in_addr()
            if inet_pton(AF_INET, host, &v4) == 1 { return .ipv4(host, port: port) }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, host, &v6) == 1 { return .ipv6(host, port: port) }
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
                throw UpstreamSetupError(code: .unresolvableHost, description: "cannot resolve upstream host \(host)")
            }
            defer { freeaddrinfo(result) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            if first.pointee.ai_family == AF_INET6 {
                var address = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    $0.pointee.sin6_addr
                }
                inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
                return .ipv6(
                    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: port
                )
            }
            var address = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                $0.pointee.sin_addr
            }
            inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
            return .ipv4(
                String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: port)
        }
    }
}

/// Why a route's upstream cannot be used: its host does not resolve, or its TLS settings cannot be loaded.
struct UpstreamSetupError: Error, CustomStringConvertible {
    enum Code {
        case unresolvableHost, tlsSettings
    }

    let code: Code
    let description: String
}
