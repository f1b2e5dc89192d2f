/// `[cluster] redis_url` (SPEC.md): "redis://HOST[:PORT][/DB]", "rediss://…" (TLS) or "unix:/path". Read by
/// the same strict URL parser as every other URL; a password has no place in it (SPEC.md "Secrets").
package struct RedisURL: Hashable, Sendable, CustomStringConvertible {
    package enum Address: Hashable, Sendable {
        case tcp(host: URLHost, port: UInt16)
        case unix(path: String)
    }

    package let address: Address
    /// `rediss://`: TLS, verified against the system's CAs (`SSL_CERT_FILE` overrides them, as in OpenSSL).
    package let usesTLS: Bool
    /// `/DB`: SELECTed on every connection; 0 by default.
    package let database: Int

    /// Redis's default number of databases is 16; a server may be configured with more.
    package static let maxDatabase = 1 << 20

    package init(_ text: String) throws(EndpointParseError) {
        if text.hasPrefix("unix:") {
            address = .unix(path: try SocketAddress.unixPath(String(text.dropFirst(5))))
            usesTLS = false
            database = 0
            return
        }
        let parsed = try StrictURL(text, schemes: ["redis": 6379, "rediss": 6379])
        guard parsed.query == nil else { throw EndpointParseError(.query, "a query (?…) is not allowed") }
        var database = 0
        if !parsed.path.isEmpty && parsed.path != "/" {
            let digits = parsed.path.dropFirst()
            guard digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), digits.utf8.count <= 7,
                let number = Int(digits), number <= Self.maxDatabase
            else {
                throw EndpointParseError(.path, "the path must be \"/DB\", a database number")
            }
            database = number
        }
        address = .tcp(host: parsed.host, port: parsed.port)
        usesTLS = parsed.scheme == "rediss"
        self.database = database
    }

    package var description: String {
        switch address {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port):
            return "\(usesTLS ? "rediss" : "redis")://\(host.uriText):\(port)" + (database == 0 ? "" : "/\(database)")
        }
    }
}
