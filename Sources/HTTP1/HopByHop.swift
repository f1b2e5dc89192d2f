/// Hop-by-hop fields (RFC 9110 §7.6.1), removed in both directions, plus those a `Connection` field names.
public enum HopByHop {
    public static let names: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection",
        "proxy-authorization",
    ]

    /// The lowercased names of `fields` that must not cross the proxy: the fixed set and every token
    /// listed in a `Connection` field.
    public static func namesToRemove(bytes: [UInt8], fields: [HeaderField]) -> Set<String> {
        var removed = names
        bytes.withUnsafeBytes { raw in
            for field in fields where raw.equalsLowercase(field.name, "connection") {
                RequestHeadParser.forEachListElement(raw, field.value) { element in
                    removed.insert(String(decoding: raw[element], as: UTF8.self).lowercased())
                }
            }
        }
        return removed
    }
}
