import Cryptography
import Endpoints
import EventLoop
import HTTP1
import Logging

/// The upstream pools (one per route and loop) and what exchanges share.
final class Proxy: Sendable {
    private let pools: [String: [UpstreamPool]]
    /// TLS settings of https:// routes, by prefix.
    private let tls: [String: UpstreamTLS]
    let settings: ProxySettings
    let logger: Logger

    init(routes: [RouteSettings], group: EventLoopGroup, settings: ProxySettings, logger: Logger)
        throws(UpstreamSetupError)
    {
        var pools: [String: [UpstreamPool]] = [:]
        var tls: [String: UpstreamTLS] = [:]
        for route in routes {
            let address = try Self.resolve(route.upstream)
            pools[route.prefix] = group.loops.map { UpstreamPool(loop: $0, address: address) }
            if case .url(let url) = route.upstream, url.scheme == .https {
                do {
                    tls[route.prefix] = UpstreamTLS(
                        context: try TLSClientContext(caFile: route.caFile), serverName: url.host)
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

    /// Starts an exchange for `head` on `route`, taking the request body from now on. `cors`: the fields the
    /// CORS policy gives the answer, when it reaches the route.
    func exchange(for head: RequestHead, route: RouteSettings, client: ClientConnection, cors: CORSAnswerFields?)
        -> ProxyExchange
    {
        let pool = pools[route.prefix]![client.loop.index]
        let exchange = ProxyExchange(
            client: client, head: head, route: route, pool: pool, tls: tls[route.prefix], cors: cors,
            settings: settings, logger: logger
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
        let url: HTTPURL
        switch upstream {
        case .unix(let path): return .unix(path)
        case .url(let parsed): url = parsed
        }
        switch url.host {
        case .ipv4(let address): return .ipv4(address, port: url.port)
        case .ipv6(let address): return .ipv6(address, port: url.port)
        case .name("localhost"): return .ipv4(.loopback, port: url.port)
        case .name(let name):
            guard let address = SocketAddress.resolving(name, port: url.port) else {
                throw UpstreamSetupError(code: .unresolvableHost, description: "cannot resolve upstream host \(name)")
            }
            return address
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
