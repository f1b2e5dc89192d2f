/// An http:// or https:// URL read once from the configuration or the environment: the Cognito endpoint,
/// the JWKS URL, an upstream, an AWS credential endpoint. Code that connects, signs or sets a Host field
/// reads these fields; nothing parses the text again.
package struct HTTPURL: Hashable, Sendable, CustomStringConvertible {
    package enum Scheme: String, Sendable, Hashable {
        case http, https

        package var defaultPort: UInt16 { self == .https ? 443 : 80 }
    }

    package let scheme: Scheme
    package let host: URLHost
    /// The port written, or the scheme's default.
    package let port: UInt16
    /// "" or "/…" as written: percent-encoding valid, no dot segment.
    package let path: String
    /// The query without its "?"; nil when there is none.
    package let query: String?
    /// "host[:port]" with the port left out when it is the scheme's default: the Host field (RFC 9110 §7.2)
    /// as curl writes it. Made once: upstream requests send it on every request.
    package let authority: String

    /// Parses `text` (see `StrictURL` for what is refused). The scheme and a DNS host are lowercased.
    package init(_ text: String) throws(EndpointParseError) {
        let parsed = try StrictURL(text, schemes: ["http": Scheme.http.defaultPort, "https": Scheme.https.defaultPort])
        // StrictURL accepted no other scheme, and checked the path and query.
        let scheme: Scheme = parsed.scheme == "https" ? .https : .http
        self.init(checked: scheme, host: parsed.host, port: parsed.port, path: parsed.path, query: parsed.query)
    }

    /// A URL from its parts, checked as the parser checks them.
    package init(scheme: Scheme, host: URLHost, port: UInt16? = nil, path: String = "", query: String? = nil)
        throws(EndpointParseError)
    {
        let port = port ?? scheme.defaultPort
        guard port > 0 else { throw EndpointParseError(.port, "the port 0 is not a number from 1 to 65535") }
        try StrictURL.checkPath(Array(path.utf8)[...])
        if let query { try StrictURL.checkQuery(Array(query.utf8)[...]) }
        self.init(checked: scheme, host: host, port: port, path: path, query: query)
    }

    /// "scheme://host" with the default port and no path: a URL made from parts that cannot be wrong.
    package static func origin(scheme: Scheme, host: URLHost) -> HTTPURL {
        HTTPURL(checked: scheme, host: host, port: scheme.defaultPort, path: "", query: nil)
    }

    private init(checked scheme: Scheme, host: URLHost, port: UInt16, path: String, query: String?) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.query = query
        authority = port == scheme.defaultPort ? host.uriText : "\(host.uriText):\(port)"
    }

    /// The path a request line carries and SigV4 signs: the path, or "/" when it is empty.
    package var requestPath: String { path.isEmpty ? "/" : path }

    /// The same URL with `suffix` ("/…") added to its path, checked as a path is.
    package func appendingPath(_ suffix: String) throws(EndpointParseError) -> HTTPURL {
        guard suffix.hasPrefix("/") else { throw EndpointParseError(.path, "the path must start with \"/\"") }
        return try HTTPURL(scheme: scheme, host: host, port: port, path: path + suffix, query: query)
    }

    /// The same URL with the trailing "/"s of its path removed: "http://h:1/" and "http://h:1" name one
    /// endpoint, to which paths are appended.
    package func withoutTrailingSlashes() -> HTTPURL {
        var trimmed = path
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        // Removing "/" from the end of a valid path leaves a valid one.
        return HTTPURL(checked: scheme, host: host, port: port, path: trimmed, query: query)
    }

    /// The URL as curl is given it: scheme, authority (no default port), path, query.
    package var description: String {
        "\(scheme.rawValue)://\(authority)\(path)" + (query.map { "?\($0)" } ?? "")
    }
}
