import Foundation

/// The authority and path of an http(s) URL, as the signer and the credential checks read them.
struct URLParts {
    /// `host[:port]` (or `[v6]:port`), exactly as written.
    let authority: Substring
    /// The path without query or fragment; `/` when there is none.
    let path: String

    init(_ url: String) {
        let afterScheme = url.range(of: "://").map { url[$0.upperBound...] } ?? url[...]
        authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let rest = afterScheme[authority.endIndex...].prefix { $0 != "?" && $0 != "#" }
        path = rest.isEmpty ? "/" : String(rest)
    }

    /// The host without brackets or port.
    var host: String {
        if authority.hasPrefix("[") { return String(authority.dropFirst().prefix { $0 != "]" }) }
        if let colon = authority.lastIndex(of: ":") { return String(authority[..<colon]) }
        return String(authority)
    }
}
