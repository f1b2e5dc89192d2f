public import Endpoints
public import EventLoop

/// The validated configuration: every value has been checked and every default filled in.
public struct GatewayConfig: Sendable {
    public var server: ServerSettings
    public var admin: AdminSettings
    public var log: LogSettings
    public var cognito: CognitoSettings
    public var signin: SigninSettings
    public var routes: [RouteSettings]
}

/// A duration in nanoseconds, written in the file as "250ms", "30s", "5m" or "1h".
public typealias Nanoseconds = UInt64

public struct ServerSettings: Sendable, Equatable {
    public var listen: [SocketAddress]
    /// Resolved: never 0 here (0 in the file means one per CPU).
    public var workers: Int
    public var maxConnections: Int
    public var maxHeaderBytes: Int
    /// 0 means no limit.
    public var maxBodyBytes: UInt64
    public var headerTimeout: Nanoseconds
    public var idleTimeout: Nanoseconds
    public var upstreamTimeout: Nanoseconds
    public var shutdownGrace: Nanoseconds
    public var tls: TLSSettings?
}

public struct TLSSettings: Sendable, Equatable {
    public var certFile: String
    public var keyFile: String
}

public struct AdminSettings: Sendable, Equatable {
    /// nil when `admin.listen = ""`.
    public var listen: SocketAddress?
}

public enum LogFormat: String, Sendable, CaseIterable {
    case json, text
}

public enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

public struct LogSettings: Sendable, Equatable {
    public var format: LogFormat
    public var level: LogLevel
}

public enum TokenUse: String, Sendable, CaseIterable {
    case id, access, any
}

public struct CognitoSettings: Sendable, Equatable {
    public var region: String
    public var userPoolID: String
    public var clientIDs: [String]
    public var clientSecretFile: String
    /// Resolved from the file, then AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER, then AWS_ENDPOINT_URL;
    /// without a trailing "/".
    public var endpointURL: HTTPURL
    /// Text, not a parsed URL: a token's `iss` must equal it exactly, as written.
    public var issuer: String
    public var jwksURL: HTTPURL
    public var tokenUse: TokenUse
    public var clockSkew: Nanoseconds
    public var jwksRefresh: Nanoseconds
    public var jwksMinRefetchInterval: Nanoseconds
    public var tokenCacheSize: Int
}

public enum AuthFlow: String, Sendable, CaseIterable {
    case admin
    case userPassword = "user_password"
}

/// "10/m": at most `count` attempts per `period`, bursts up to `count`.
public struct RateLimit: Sendable, Hashable {
    public var count: Int
    public var period: Nanoseconds
}

public struct SigninSettings: Sendable {
    public var enabled: Bool
    public var path: String
    public var clientID: String
    public var signUp: Bool
    public var autoConfirm: Bool
    public var authFlow: AuthFlow
    public var rateLimit: RateLimit
    public var maxBodyBytes: Int
}

public enum RouteAuth: String, Sendable, CaseIterable {
    case required, none
}

/// Where a route forwards to.
public enum Upstream: Sendable, Hashable, CustomStringConvertible {
    /// An http:// or https:// upstream; its path (no trailing "/") is the base requests are joined to.
    case url(HTTPURL)
    case unix(path: String)

    /// `check-config` writes the port even when it is the scheme's default, so that none is guessed.
    public var description: String {
        switch self {
        case .url(let url): return "\(url.scheme.rawValue)://\(url.host.uriText):\(url.port)\(url.path)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// The path requests are joined to; unix sockets have none.
    public var basePath: String {
        if case .url(let url) = self { return url.path }
        return ""
    }

    /// The Host field for the upstream: its authority without the scheme's default port, made once when the
    /// configuration was read. A unix socket has no host name: "localhost".
    public var hostField: String {
        if case .url(let url) = self { return url.authority }
        return "localhost"
    }
}

public struct RouteSettings: Sendable {
    public var prefix: String
    public var upstream: Upstream
    public var caFile: String
    public var auth: RouteAuth
    public var groups: [String]
    public var scopes: [String]
    public var stripPrefix: Bool
    public var forwardAuthorization: Bool
    public var preserveHost: Bool
}
