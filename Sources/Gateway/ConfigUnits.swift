/// Parsers for the value forms of the configuration file; each returns nil for text it refuses.
enum ConfigUnits {
    /// "250ms", "30s", "5m", "1h": a whole number and one unit, nothing else.
    static func duration(_ text: String) -> Nanoseconds? {
        let units: [(String, UInt64)] = [
            ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            // "ms" also ends in "s": the number part must be all digits for the match to count.
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = UInt64(digits)
            else { continue }
            return value * scale
        }
        return nil
    }

    /// "16KiB", "10MiB", "1GiB", "512B", or a whole number of bytes.
    static func size(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("B", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = UInt64(digits)
            else { return nil }
            return value * scale
        }
        guard !text.isEmpty, text.count <= 15, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(text)
    }

    /// "10/m": a positive count per second, minute or hour.
    static func rateLimit(_ text: String) -> RateLimit? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 9,
            parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
            let count = Int(parts[0]), count > 0
        else { return nil }
        switch parts[1] {
        case "s": return RateLimit(count: count, period: 1_000_000_000)
        case "m": return RateLimit(count: count, period: 60_000_000_000)
        case "h": return RateLimit(count: count, period: 3_600_000_000_000)
        default: return nil
        }
    }

    /// Writes a duration back the way the file would, for summaries.
    static func describe(duration: Nanoseconds) -> String {
        if duration % 3_600_000_000_000 == 0 && duration > 0 { return "\(duration / 3_600_000_000_000)h" }
        if duration % 60_000_000_000 == 0 && duration > 0 { return "\(duration / 60_000_000_000)m" }
        if duration % 1_000_000_000 == 0 { return "\(duration / 1_000_000_000)s" }
        return "\(duration / 1_000_000)ms"
    }
}

/// A URL of the control plane (Cognito endpoint, issuer, JWKS): http or https, an authority, no userinfo,
/// query or fragment. Returns nil when it is anything else.
func validatedHTTPURL(_ text: String) -> String? {
    let lower = text.lowercased()
    let rest: Substring
    if lower.hasPrefix("https://") {
        rest = text.dropFirst(8)
    } else if lower.hasPrefix("http://") {
        rest = text.dropFirst(7)
    } else {
        return nil
    }
    let authority = rest.prefix { $0 != "/" }
    guard !authority.isEmpty, !authority.contains("@"), parseHostPort(authority, defaultPort: 1) != nil else {
        return nil
    }
    let path = rest.dropFirst(authority.count)
    guard !text.contains("?"), !text.contains("#"), path.allSatisfy({ isPathCharacter($0) }) else { return nil }
    return text
}

/// "host", "host:port", "[v6]:port" → (host, port). Hosts are DNS names or IP literals.
func parseHostPort(_ authority: Substring, defaultPort: UInt16) -> (host: String, port: UInt16)? {
    var host: Substring
    var portText: Substring?
    if authority.hasPrefix("[") {
        guard let close = authority.firstIndex(of: "]") else { return nil }
        host = authority[authority.index(after: authority.startIndex)..<close]
        let after = authority[authority.index(after: close)...]
        if !after.isEmpty {
            guard after.hasPrefix(":") else { return nil }
            portText = after.dropFirst()
        }
        guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
    } else {
        if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard !host.isEmpty, host.count <= 253,
            labels.allSatisfy({ label in
                !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            })
        else { return nil }
    }
    var port = defaultPort
    if let portText {
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(portText), value > 0, value <= 65535
        else { return nil }
        port = UInt16(value)
    }
    return (String(host), port)
}

/// RFC 3986 pchar plus "/": what a configured path may hold. No percent-encoding: configured paths are literal.
func isPathCharacter(_ character: Character) -> Bool {
    guard character.isASCII, let scalar = character.unicodeScalars.first else { return false }
    switch scalar {
    case "a"..."z", "A"..."Z", "0"..."9": return true
    default: return "-._~!$&'()*+,;=:@/".unicodeScalars.contains(scalar)
    }
}

/// A configured path prefix: absolute, literal, without dot segments, empty segments or a trailing slash.
func isCleanPath(_ path: String) -> Bool {
    guard path.hasPrefix("/"), path.allSatisfy(isPathCharacter) else { return false }
    if path == "/" { return true }
    guard !path.hasSuffix("/") else { return false }
    let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    return segments.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
}
