import Endpoints
import EventLoop

/// What `authgate check-config` prints for a valid configuration.
package enum ConfigSummary {
    package static func lines(_ config: GatewayConfig) -> [String] {
        var lines = ["configuration ok"]
        let server = config.server
        let scheme = server.tls.map { " (HTTPS, certificate \($0.certFile))" } ?? ""
        lines.append("listen: \(server.listen.map(\.description).joined(separator: ", "))\(scheme)")
        lines.append("admin: \(config.admin.listen?.description ?? "disabled")")
        lines.append(
            "workers: \(server.workers), max_connections: \(server.maxConnections), "
                + "header_timeout: \(ConfigUnits.describe(duration: server.headerTimeout)), "
                + "idle_timeout: \(ConfigUnits.describe(duration: server.idleTimeout))"
        )
        if !server.trustedProxies.isEmpty {
            let entries = server.trustedProxies.networks.networks.map(\.description)
            lines.append(
                "trusted_proxies: "
                    + (entries + (server.trustedProxies.unixPeers ? ["unix:"] : [])).joined(separator: ", "))
        }
        lines.append("dns_refresh: \(ConfigUnits.describe(duration: server.dnsRefresh))")
        let cognito = config.cognito
        lines.append(
            "cognito: pool \(cognito.userPoolID) in \(cognito.region), clients \(cognito.clientIDs.joined(separator: ", ")), token_use \(cognito.tokenUse.rawValue)"
        )
        lines.append("issuer: \(cognito.issuer)")
        lines.append("jwks: \(cognito.jwksURL)")
        for pool in cognito.pools {
            lines.append(
                "pool: \(pool.userPoolID) in \(pool.region), clients \(pool.clientIDs.joined(separator: ", ")), "
                    + "token_use \(pool.tokenUse.rawValue), issuer \(pool.issuer), jwks \(pool.jwksURL)")
        }
        let signin = config.signin
        let refresh = signin.refreshPath.map { ", refresh \($0)" } ?? ""
        lines.append(
            "signin: " + (signin.enabled ? "\(signin.path) (\(signin.authFlow.rawValue))\(refresh)" : "disabled"))
        lines.append(
            "signout: "
                + (signin.signOutPath.isEmpty ? "disabled" : signin.signOutPath)
                + ", revocations kept \(ConfigUnits.describe(duration: cognito.revocationTTL))")
        let cors = config.cors
        lines.append(
            "cors: "
                + (cors.isEnabled
                    ? cors.allowOrigins.joined(separator: ", ") + (cors.allowCredentials ? " (credentials)" : "")
                    : "off"))
        lines.append(
            "cluster: "
                + (config.cluster.map { "\($0.redisURL), key_prefix \($0.keyPrefix)" } ?? "none (state in the process)")
        )
        for route in config.routes {
            var line = "route \(route.prefix) -> \(route.upstream) auth=\(route.auth.rawValue)"
            if !route.groups.isEmpty { line += " groups=\(route.groups.joined(separator: ","))" }
            if !route.scopes.isEmpty { line += " scopes=\(route.scopes.joined(separator: ","))" }
            if !route.pools.isEmpty { line += " pools=\(route.pools.joined(separator: ","))" }
            if cors.isEnabled && !route.cors { line += " cors=false" }
            if route.websocket { line += " websocket=true" }
            lines.append(line)
        }
        return lines
    }
}
