/// HTTP/1.0 or HTTP/1.1; nothing else is parsed.
package enum HTTPVersion: Sendable, Hashable {
    case http10
    case http11

    package var text: String {
        self == .http10 ? "HTTP/1.0" : "HTTP/1.1"
    }
}

/// How the request body is delimited, decided once from the head.
package enum BodyFraming: Sendable, Hashable {
    case none
    case length(UInt64)
    case chunked
}

/// One header field as byte ranges into `RequestHead.bytes`.
package struct HeaderField: Sendable, Hashable {
    package let name: Range<Int>
    package let value: Range<Int>
}

/// What a head holds of a field that must appear at most once.
package enum FieldLookup: Sendable, Hashable {
    case absent
    case one(HeaderField)
    /// Two or more: each could be read as the one meant, so the caller refuses rather than picks.
    case several
}

/// A parsed, validated request head. It keeps the head's own bytes and ranges into them, so that
/// forwarding can copy fields without turning them into strings.
package struct RequestHead: Sendable {
    package let bytes: [UInt8]
    package let methodRange: Range<Int>
    /// The origin-form target (path and query). For an absolute-form request this is the part after the authority.
    package let targetRange: Range<Int>
    package let version: HTTPVersion
    package let fields: [HeaderField]
    package let framing: BodyFraming
    /// Whether the client allows the connection to stay open after this exchange.
    package let keepAlive: Bool
    package let expectsContinue: Bool
    /// The Host field, or the authority of an absolute-form target, which RFC 9112 §3.2.2 says overrides it.
    package let authorityRange: Range<Int>?

    package var method: String { string(methodRange) }
    package var target: String { string(targetRange) }
    package var authority: String? { authorityRange.map(string) }

    /// The path part of the target, without the query.
    package var path: String {
        let end = bytes[targetRange].firstIndex(of: UInt8(ascii: "?")) ?? targetRange.upperBound
        return string(targetRange.lowerBound..<end)
    }

    package var isHead: Bool {
        bytes.withUnsafeBytes { $0.equalsLowercase(methodRange, "head") } && bytes[methodRange.lowerBound] == 72
    }

    package func string(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// Values of every field whose name equals `lowercaseName` case-insensitively, in order.
    package func values(_ lowercaseName: StaticString) -> [String] {
        bytes.withUnsafeBytes { raw in
            fields.filter { raw.equalsLowercase($0.name, lowercaseName) }.map { string($0.value) }
        }
    }

    /// The one field named `lowercaseName` (case-insensitively), found without a list or a string.
    package func uniqueField(named lowercaseName: StaticString) -> FieldLookup {
        bytes.withUnsafeBytes { raw in
            var found: HeaderField?
            for field in fields where raw.equalsLowercase(field.name, lowercaseName) {
                if found != nil { return .several }
                found = field
            }
            return found.map(FieldLookup.one) ?? .absent
        }
    }

    package func firstValue(_ lowercaseName: StaticString) -> String? {
        bytes.withUnsafeBytes { raw in
            fields.first { raw.equalsLowercase($0.name, lowercaseName) }.map { string($0.value) }
        }
    }
}
