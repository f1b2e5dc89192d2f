import Endpoints

/// Parsers for the value forms of the configuration file; each returns nil for text it refuses.
enum ConfigUnits {
    /// "250ms", "30s", "5m", "1h": a whole number and one unit, nothing else, that fits in 64 bits of
    /// nanoseconds ("999999999h" does not: refused, not a crash of check-config or of a reload).
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
            let (nanoseconds, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : nanoseconds
        }
        return nil
    }

    /// "16KiB", "10MiB", "1GiB", "512B", or a whole number of bytes, that fits in 64 bits.
    static func size(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("B", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = UInt64(digits)
            else { return nil }
            let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : bytes
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

/// A configured path prefix: absolute, literal (RFC 3986 pchar and "/", no percent-encoding: prefixes are
/// matched byte for byte, where "%61" and "a" differ), without dot segments, empty segments or a trailing slash.
func isCleanPath(_ path: String) -> Bool {
    guard path.hasPrefix("/"), path.utf8.allSatisfy({ URLSyntax.isPathCharacter($0) || $0 == UInt8(ascii: "/") })
    else { return false }
    if path == "/" { return true }
    guard !path.hasSuffix("/") else { return false }
    let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    return segments.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
}
