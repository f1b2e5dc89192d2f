/// HTTP/1.0 or HTTP/1.1; nothing else is parsed.
public enum HTTPVersion: Sendable, Hashable {
    case http10
    case http11

    public var text: String {
        self == .http10 ? "HTTP/1.0" : "HTTP/1.1"
    }
}

/// How the request body is delimited, decided once from the head.
public enum BodyFraming: Sendable, Hashable {
    case none
    case length(UInt64)
    case chunked
}

/// One header field as byte ranges into `RequestHead.bytes`.
public struct HeaderField: Sendable, Hashable {
    public let name: Range<Int>
    public let value: Range<Int>
}

/// A parsed, validated request head. It keeps the head's own bytes and ranges into them, so that
/// forwarding can copy fields without turning them into strings.
public struct RequestHead: Sendable {
    public let bytes: [UInt8]
    public let methodRange: Range<Int>
    /// The origin-form target (path and query). For an absolute-form request this is the part after the authority.
    public let targetRange: Range<Int>
    public let version: HTTPVersion
    public let fields: [HeaderField]
    public let framing: BodyFraming
    /// Whether the client allows the connection to stay open after this exchange.
    public let keepAlive: Bool
    public let expectsContinue: Bool
    /// The Host field, or the authority of an absolute-form target, which RFC 9112 §3.2.2 says overrides it.
    public let authorityRange: Range<Int>?

    public var method: String { string(methodRange) }
    public var target: String { string(targetRange) }
    public var authority: String? { authorityRange.map(string) }

    /// The path part of the target, without the query.
    public var path: String {
        let end = bytes[targetRange].firstIndex(of: UInt8(ascii: "?")) ?? targetRange.upperBound
        return string(targetRange.lowerBound..<end)
    }

    public var isHead: Bool {
        bytes.withUnsafeBytes { $0.equalsLowercase(methodRange, "head") } && bytes[methodRange.lowerBound] == 72
    }

    public func string(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// Values of every field whose name equals `lowercaseName` case-insensitively, in order.
    public func values(_ lowercaseName: StaticString) -> [String] {
        bytes.withUnsafeBytes { raw in
            fields.filter { raw.equalsLowercase($0.name, lowercaseName) }.map { string($0.value) }
        }
    }

    /// The fields named `lowercaseName` (case-insensitively), without making strings of them.
    public func fields(named lowercaseName: StaticString) -> [HeaderField] {
        bytes.withUnsafeBytes { raw in fields.filter { raw.equalsLowercase($0.name, lowercaseName) } }
    }

    public func firstValue(_ lowercaseName: StaticString) -> String? {
        bytes.withUnsafeBytes { raw in
            fields.first { raw.equalsLowercase($0.name, lowercaseName) }.map { string($0.value) }
        }
    }
}
