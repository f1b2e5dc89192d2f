import Cryptography
import Endpoints
import EventLoop
import Foundation
import TOMLKit

/// The schema of SPEC.md, section by section: defaults, ranges and cross-key rules.
struct Schema {
    let problems: ProblemCollector
    let environment: [String: String]

    static let secondNs: Nanoseconds = 1_000_000_000
    static let millisecondNs: Nanoseconds = 1_000_000

    func read(_ root: TableReader) -> GatewayConfig? {
        let server = readServer(root.table("server"))
        let admin = readAdmin(root.table("admin"), server: server)
        let log = readLog(root.table("log"))
        let cognito = readCognito(root.table("cognito"))
        let signin = readSignin(root.table("signin"), cognito: cognito)
        let cors = readCORS(root.table("cors"))
        let routes = root.tables("route").map(readRoute)
        let cluster = readCluster(root.table("cluster"))
        root.rejectUnknownKeys()
        checkRoutes(routes)
        return GatewayConfig(
            server: server, admin: admin, log: log, cognito: cognito, signin: signin, cors: cors,
            routes: resolveRoutePools(routes, cognito: cognito), cluster: cluster
        )
    }

    private func readServer(_ table: TableReader?) -> ServerSettings {
        let table = table ?? TableReader(.init(), path: "server", problems)
        var listen: [SocketAddress] = []
        for text in table.strings("listen", default: ["127.0.0.1:8080"]) {
            do {
                let address = try SocketAddress.parse(text)
                if listen.contains(address) {
                    table.fail("listen", "\"\(text)\" is listed twice")
                } else {
                    listen.append(address)
                }
            } catch {
                table.fail("listen", "\"\(text)\": \(error.description)")
            }
        }
        if listen.isEmpty && table.has("listen") { table.fail("listen", "needs at least one address") }
        let workers = table.int("workers", default: 0, range: 0...1024)
        let maxConnections = table.int("max_connections", default: 10000, range: 1...1_000_000)
        let maxHeaderBytes = table.size("max_header_bytes", default: 32 * 1024, range: 1024...(1 << 20))
        let maxBodyBytes = table.size("max_body_bytes", default: 10 * 1024 * 1024, range: 0...(1 << 50))
        let headerTimeout = table.duration("header_timeout", default: "10s", minimum: 100 * Self.millisecondNs)
        let idleTimeout = table.duration("idle_timeout", default: "60s", minimum: 100 * Self.millisecondNs)
        let upstreamTimeout = table.duration("upstream_timeout", default: "30s", minimum: 100 * Self.millisecondNs)
        let shutdownGrace = table.duration("shutdown_grace", default: "10s")
        let (trustedProxies, refused) = TrustedProxies.parse(table.strings("trusted_proxies", default: []))
        for (entry, reason) in refused { table.fail("trusted_proxies", "\"\(entry)\" \(reason)") }
        let dnsRefresh = table.duration("dns_refresh", default: "30s", minimum: 1 * Self.secondNs)
        var tls: TLSSettings?
        if let tlsTable = table.table("tls") {
            let cert = tlsTable.string("cert_file", default: "")
            let key = tlsTable.string("key_file", default: "")
            for (name, value) in [("cert_file", cert), ("key_file", key)] {
                if value.isEmpty {
                    tlsTable.fail(name, "is required when [server.tls] is present")
                } else if !FileManager.default.isReadableFile(atPath: value) {
                    tlsTable.fail(name, "cannot read \(value)")
                }
            }
            tlsTable.rejectUnknownKeys()
            if FileManager.default.isReadableFile(atPath: cert) && FileManager.default.isReadableFile(atPath: key) {
                // Loaded as the listeners will: a key that does not match, or a file that is not PEM, is found now.
                do {
                    _ = try TLSServerContext(certFile: cert, keyFile: key)
                } catch {
                    tlsTable.fail("", error.description)
                }
            }
            tls = TLSSettings(certFile: cert, keyFile: key)
        }
        table.rejectUnknownKeys()
        return ServerSettings(
            listen: listen.isEmpty ? [.ipv4(.loopback, port: 8080)] : listen,
            workers: workers == 0 ? EventLoopGroup.coreCount : workers,
            maxConnections: maxConnections,
            maxHeaderBytes: Int(maxHeaderBytes),
            maxBodyBytes: maxBodyBytes,
            headerTimeout: headerTimeout,
            idleTimeout: idleTimeout,
            upstreamTimeout: upstreamTimeout,
            shutdownGrace: shutdownGrace,
            trustedProxies: trustedProxies,
            dnsRefresh: dnsRefresh,
            tls: tls
        )
    }

    private func readAdmin(_ table: TableReader?, server: ServerSettings) -> AdminSettings {
        let table = table ?? TableReader(.init(), path: "admin", problems)
        let text = table.string("listen", default: "127.0.0.1:9901")
        var listen: SocketAddress?
        if !text.isEmpty {
            do {
                let address = try SocketAddress.parse(text)
                if server.listen.contains(address) {
                    table.fail("listen", "must differ from server.listen: the admin endpoints are never public")
                }
                listen = address
            } catch {
                table.fail("listen", "\"\(text)\": \(error.description)")
            }
        }
        table.rejectUnknownKeys()
        return AdminSettings(listen: listen)
    }

    private func readLog(_ table: TableReader?) -> LogSettings {
        let table = table ?? TableReader(.init(), path: "log", problems)
        let format = table.choice("format", default: LogFormat.json)
        let level = table.choice("level", default: LogLevel.info)
        table.rejectUnknownKeys()
        return LogSettings(format: format, level: level)
    }

    private func readSignin(_ table: TableReader?, cognito: CognitoSettings) -> SigninSettings {
        let table = table ?? TableReader(.init(), path: "signin", problems)
        let enabled = table.bool("enabled", default: true)
        let path = table.string("path", default: "/signin")
        if !isCleanPath(path) || path == "/" {
            table.fail("path", "\"\(path)\" must be an absolute path without dot segments, \"//\" or a trailing \"/\"")
        }
        var clientID = table.string("client_id", default: "")
        if clientID.isEmpty {
            clientID = cognito.clientIDs.first ?? ""
        } else if !cognito.clientIDs.contains(clientID) {
            table.fail("client_id", "must be one of cognito.client_ids, or the tokens it returns would be refused")
        }
        let signUp = table.bool("sign_up", default: true)
        let autoConfirm = table.bool("auto_confirm", default: true)
        let authFlow = table.choice("auth_flow", default: AuthFlow.admin)
        let rateText = table.string("rate_limit", default: "10/m")
        let rateLimit = ConfigUnits.rateLimit(rateText) ?? RateLimit(count: 10, period: 60 * Self.secondNs)
        if ConfigUnits.rateLimit(rateText) == nil {
            table.fail(
                "rate_limit", "expected \"COUNT/s\", \"COUNT/m\" or \"COUNT/h\" with COUNT > 0, not \"\(rateText)\"")
        }
        let maxBody = table.size("max_body_bytes", default: 8 * 1024, range: 64...(1 << 20))
        let refreshPath = table.string("refresh_path", default: "/refresh")
        if !refreshPath.isEmpty {
            if !isCleanPath(refreshPath) || refreshPath == "/" {
                table.fail(
                    "refresh_path",
                    "\"\(refreshPath)\" must be an absolute path without dot segments, \"//\" or a trailing \"/\", "
                        + "or \"\" to turn POST /refresh off")
            } else if refreshPath == path {
                table.fail("refresh_path", "must differ from signin.path")
            }
        }
        let signOutPath = table.string("signout_path", default: "/signout")
        if !signOutPath.isEmpty && (!isCleanPath(signOutPath) || signOutPath == "/") {
            table.fail(
                "signout_path",
                "\"\(signOutPath)\" must be \"\" (off) or an absolute path without dot segments, \"//\" or a trailing \"/\""
            )
        } else if enabled && signOutPath == path {
            table.fail("signout_path", "must differ from signin.path")
        } else if enabled && !signOutPath.isEmpty && signOutPath == refreshPath {
            table.fail("signout_path", "must differ from signin.refresh_path")
        }
        table.rejectUnknownKeys()
        return SigninSettings(
            enabled: enabled, path: path, clientID: clientID, signUp: signUp, autoConfirm: autoConfirm,
            authFlow: authFlow, rateLimit: rateLimit, maxBodyBytes: Int(maxBody),
            refreshPath: refreshPath.isEmpty ? nil : refreshPath, signOutPath: signOutPath
        )
    }

    private struct ReadRoute {
        let settings: RouteSettings
        let table: TableReader
    }

    private func readRoute(_ table: TableReader) -> ReadRoute {
        let prefix = table.string("prefix", default: "")
        if !table.has("prefix") {
            table.fail("prefix", "is required")
        } else if !isCleanPath(prefix) {
            table.fail(
                "prefix", "\"\(prefix)\" must be an absolute path without dot segments, \"//\" or a trailing \"/\"")
        }
        let upstreamText = table.string("upstream", default: "")
        var upstream = Upstream.url(Self.unusedURL)
        if !table.has("upstream") {
            table.fail("upstream", "is required")
        } else {
            do {
                upstream = try Self.parseUpstream(upstreamText)
            } catch {
                table.fail(
                    "upstream",
                    "\"\(upstreamText)\" must be \"http://HOST:PORT[/base]\", \"https://HOST[:PORT][/base]\" or \"unix:/path\": "
                        + error.description
                )
            }
        }
        let caFile = table.string("ca_file", default: "")
        if !caFile.isEmpty {
            if case .url(let url) = upstream, url.scheme == .https {
                if !FileManager.default.isReadableFile(atPath: caFile) {
                    table.fail("ca_file", "cannot read \(caFile)")
                }
            } else {
                table.fail("ca_file", "only applies to https:// upstreams")
            }
        }
        let auth = table.choice("auth", default: RouteAuth.required)
        let groups = table.strings("groups", default: [])
        let scopes = table.strings("scopes", default: [])
        if auth == .none && (!groups.isEmpty || !scopes.isEmpty) {
            table.fail("auth", "is \"none\", so groups and scopes could never be checked; remove them or require auth")
        }
        for scope in scopes where scope.contains(" ") { table.fail("scopes", "\"\(scope)\" contains a space") }
        let pools = table.strings("pools", default: [])
        if auth == .none && !pools.isEmpty {
            table.fail("pools", "cannot apply: auth is \"none\"; remove pools or require auth")
        }
        if Set(pools).count != pools.count { table.fail("pools", "lists a pool twice") }
        let settings = RouteSettings(
            prefix: prefix, upstream: upstream, caFile: caFile, auth: auth, groups: groups, scopes: scopes,
            pools: pools,
            stripPrefix: table.bool("strip_prefix", default: false),
            forwardAuthorization: table.bool("forward_authorization", default: true),
            preserveHost: table.bool("preserve_host", default: false),
            cors: table.bool("cors", default: true),
            websocket: table.bool("websocket", default: false)
        )
        table.rejectUnknownKeys()
        return ReadRoute(settings: settings, table: table)
    }

    private func checkRoutes(_ routes: [ReadRoute]) {
        var seen: Set<String> = []
        for route in routes where !route.settings.prefix.isEmpty {
            if !seen.insert(route.settings.prefix).inserted {
                route.table.fail("prefix", "\"\(route.settings.prefix)\" is used by an earlier route")
            }
        }
    }

    /// A route's `pools` names configured pools only (a typo would otherwise refuse every token on the route),
    /// each resolved to its index in `cognito.allPools`.
    private func resolveRoutePools(_ routes: [ReadRoute], cognito: CognitoSettings) -> [RouteSettings] {
        var indices: [String: Int] = [:]
        for (index, pool) in cognito.allPools.enumerated() { indices[pool.userPoolID] = index }
        return routes.map { route in
            var resolved: [Int] = []
            for pool in route.settings.pools {
                if let index = indices[pool] {
                    resolved.append(index)
                } else {
                    route.table.fail(
                        "pools",
                        "\"\(pool)\" is not a configured user pool (cognito.user_pool_id or a [[cognito.pool]])")
                }
            }
            return route.settings.resolving(poolIndices: resolved)
        }
    }

    /// Where refused values leave a placeholder; a configuration with a problem is never used.
    static let unusedURL = HTTPURL.origin(scheme: .http, host: .ipv4(.loopback))

    /// `text` as an http(s) URL without a query, or nil after recording under `key` why it is not one.
    func controlPlaneURL(_ text: String, key: String, expected: String) -> HTTPURL? {
        do throws(EndpointParseError) {
            let url = try HTTPURL(text)
            guard url.query == nil else { throw EndpointParseError(.query, "a query (?…) is not allowed here") }
            return url
        } catch {
            problems.add(key, "\"\(text)\" is not \(expected): \(error.description)")
            return nil
        }
    }

    /// "unix:/path", or an http(s) URL without a query whose path, the base requests are joined to, is literal
    /// and clean (a trailing "/" is dropped).
    static func parseUpstream(_ text: String) throws(EndpointParseError) -> Upstream {
        if text.hasPrefix("unix:") { return .unix(path: try SocketAddress.unixPath(String(text.dropFirst(5)))) }
        let url = try HTTPURL(text).withoutTrailingSlashes()
        guard url.query == nil else { throw EndpointParseError(.query, "a query (?…) is not allowed here") }
        guard url.path.isEmpty || isCleanPath(url.path) else {
            throw EndpointParseError(
                .path, "the base path must be literal (no percent-encoding), without dot segments or \"//\"")
        }
        return .url(url)
    }
}
