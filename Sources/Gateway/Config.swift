package import Endpoints
import EventLoop

/// The validated configuration: every value has been checked and every default filled in.
package struct GatewayConfig: Sendable {
    package var server: ServerSettings
    package var admin: AdminSettings
    package var log: LogSettings
    package var cognito: CognitoSettings
    package var signin: SigninSettings
    package var cors: CORSSettings
    package var routes: [RouteSettings]
    /// nil: no `[cluster]`, or `redis_url = ""`; the shared state lives in the process.
    package var cluster: ClusterSettings? = nil
}

/// A duration in nanoseconds, written in the file as "250ms", "30s", "5m" or "1h".
package typealias Nanoseconds = UInt64

package struct ServerSettings: Sendable, Equatable {
    package var listen: [SocketAddress]
    /// Resolved: never 0 here (0 in the file means one per CPU).
    package var workers: Int
    package var maxConnections: Int
    package var maxHeaderBytes: Int
    /// 0 means no limit.
    package var maxBodyBytes: UInt64
    package var headerTimeout: Nanoseconds
    package var idleTimeout: Nanoseconds
    package var upstreamTimeout: Nanoseconds
    package var shutdownGrace: Nanoseconds
    /// Peers whose `X-Forwarded-For` names the client; `.none` when the list is empty.
    package var trustedProxies: TrustedProxies
    /// How often upstream host names are resolved again.
    package var dnsRefresh: Nanoseconds
    package var tls: TLSSettings?
}

package struct TLSSettings: Sendable, Equatable {
    package var certFile: String
    package var keyFile: String
}

package struct AdminSettings: Sendable, Equatable {
    /// nil when `admin.listen = ""`.
    package var listen: SocketAddress?
}

package enum LogFormat: String, Sendable, CaseIterable {
    case json, text
}

package enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

package struct LogSettings: Sendable, Equatable {
    package var format: LogFormat
    package var level: LogLevel
}

package enum TokenUse: String, Sendable, CaseIterable {
    case id, access, any
}

package struct CognitoSettings: Sendable, Equatable {
    package var region: String
    package var userPoolID: String
    package var clientIDs: [String]
    package var clientSecretFile: String
    /// Resolved from the file, then AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER, then AWS_ENDPOINT_URL;
    /// without a trailing "/".
    package var endpointURL: HTTPURL
    /// Text, not a parsed URL: a token's `iss` must equal it exactly, as written.
    package var issuer: String
    package var jwksURL: HTTPURL
    package var tokenUse: TokenUse
    package var clockSkew: Nanoseconds
    package var jwksRefresh: Nanoseconds
    package var jwksMinRefetchInterval: Nanoseconds
    package var tokenCacheSize: Int
    /// How long a gateway-side revocation (a sign-out, an operator's /revoke) is kept.
    package var revocationTTL: Nanoseconds
    /// `[[cognito.pool]]`: more user pools whose tokens are accepted, in the file's order.
    package var pools: [UserPoolSettings] = []

    /// Every pool whose tokens are accepted: this table's own first, then `pools`. A token's pool is its index here.
    package var allPools: [UserPoolSettings] {
        [
            UserPoolSettings(
                userPoolID: userPoolID, region: region, clientIDs: clientIDs, endpointURL: endpointURL, issuer: issuer,
                jwksURL: jwksURL, tokenUse: tokenUse)
        ] + pools
    }
}

/// One user pool's identity and token rules; the timing settings (`clock_skew`, `jwks_refresh`…) are [cognito]'s.
package struct UserPoolSettings: Sendable, Equatable {
    package var userPoolID: String
    package var region: String
    package var clientIDs: [String]
    /// Where its GlobalSignOut goes, and its default JWKS; without a trailing "/".
    package var endpointURL: HTTPURL
    /// Text, not a parsed URL: a token's `iss` must equal it exactly, as written.
    package var issuer: String
    package var jwksURL: HTTPURL
    package var tokenUse: TokenUse
}

package enum AuthFlow: String, Sendable, CaseIterable {
    case admin
    case userPassword = "user_password"
}

/// "10/m": at most `count` attempts per `period`, bursts up to `count`.
package struct RateLimit: Sendable, Hashable {
    package var count: Int
    package var period: Nanoseconds
}

package struct SigninSettings: Sendable {
    package var enabled: Bool
    package var path: String
    package var clientID: String
    package var signUp: Bool
    package var autoConfirm: Bool
    package var authFlow: AuthFlow
    package var rateLimit: RateLimit
    package var maxBodyBytes: Int
    /// `POST /refresh`; nil when `refresh_path = ""`.
    package var refreshPath: String?
    /// `POST /signout`'s path; "" when it is off. Served whatever `enabled` says, which is /signin's switch.
    package var signOutPath: String
}

/// `[cors]`: browsers calling authgate from other origins (SPEC.md "CORS"). Every value was checked.
package struct CORSSettings: Sendable, Equatable {
    /// Origins exactly as browsers send them ("https://app.example.com"), or ["*"]; empty: CORS is off.
    package var allowOrigins: [String]
    package var allowMethods: [String]
    package var allowHeaders: [String]
    package var exposeHeaders: [String]
    package var allowCredentials: Bool
    /// Whole seconds.
    package var maxAge: Nanoseconds

    package var isEnabled: Bool { !allowOrigins.isEmpty }
}

package enum RouteAuth: String, Sendable, CaseIterable {
    case required, none
}

/// Where a route forwards to.
package enum Upstream: Sendable, Hashable, CustomStringConvertible {
    /// An http:// or https:// upstream; its path (no trailing "/") is the base requests are joined to.
    case url(HTTPURL)
    case unix(path: String)

    /// `check-config` writes the port even when it is the scheme's default, so that none is guessed.
    package var description: String {
        switch self {
        case .url(let url): return "\(url.scheme.rawValue)://\(url.host.uriText):\(url.port)\(url.path)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// The path requests are joined to; unix sockets have none.
    package var basePath: String {
        if case .url(let url) = self { return url.path }
        return ""
    }

    /// The Host field for the upstream: its authority without the scheme's default port, made once when the
    /// configuration was read. A unix socket has no host name: "localhost".
    package var hostField: String {
        if case .url(let url) = self { return url.authority }
        return "localhost"
    }
}

/// A class, not a struct: every exchange keeps its route, and a struct of eleven fields, most reference-counted,
/// cost a retain per field on every copy (callgrind).
package final class RouteSettings: Sendable {
    package let prefix: String
    package let upstream: Upstream
    package let caFile: String
    package let auth: RouteAuth
    package let groups: [String]
    package let scopes: [String]
    /// user_pool_ids whose tokens this route accepts; empty: every configured pool's.
    package let pools: [String]
    /// `pools` as indices into `cognito.allPools` (a verified token's `pool`), worked out when the file is read:
    /// a request compares integers.
    package let poolIndices: [Int]
    package let stripPrefix: Bool
    package let forwardAuthorization: Bool
    package let preserveHost: Bool
    /// false: no CORS answers or headers on this route (its upstream's own pass through).
    package let cors: Bool
    /// true: a `GET` asking for `Upgrade: websocket` becomes a byte tunnel on the upstream's `101` (wire.md).
    package let websocket: Bool

    package init(
        prefix: String, upstream: Upstream, caFile: String, auth: RouteAuth, groups: [String], scopes: [String],
        pools: [String] = [], poolIndices: [Int] = [], stripPrefix: Bool, forwardAuthorization: Bool,
        preserveHost: Bool, cors: Bool, websocket: Bool = false
    ) {
        self.prefix = prefix
        self.upstream = upstream
        self.caFile = caFile
        self.auth = auth
        self.groups = groups
        self.scopes = scopes
        self.pools = pools
        self.poolIndices = poolIndices
        self.stripPrefix = stripPrefix
        self.forwardAuthorization = forwardAuthorization
        self.preserveHost = preserveHost
        self.cors = cors
        self.websocket = websocket
    }

    /// The same route with its `pools` resolved.
    package func resolving(poolIndices: [Int]) -> RouteSettings {
        RouteSettings(
            prefix: prefix, upstream: upstream, caFile: caFile, auth: auth, groups: groups, scopes: scopes,
            pools: pools, poolIndices: poolIndices, stripPrefix: stripPrefix,
            forwardAuthorization: forwardAuthorization, preserveHost: preserveHost, cors: cors, websocket: websocket)
    }
}
