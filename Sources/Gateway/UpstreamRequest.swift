import Encoding
import HTTP1
import JWT

/// The request head authgate sends upstream: its own framing, the path that was authorized, and the header
/// rules of SPEC.md "To the upstream". Everything from the client is re-serialized, never copied raw.
struct UpstreamRequest {
    /// `METHOD TARGET HTTP/1.1` with the target the upstream receives: the upstream's base path joined to the
    /// path (after `strip_prefix`), then the query, written from the request's own bytes.
    private static func writeRequestLine(
        for head: RequestHead, route: RouteSettings, raw: UnsafeRawBufferPointer, into out: inout HeadWriter
    ) {
        let target = head.targetRange
        let queryStart = raw[target].firstIndex(of: UInt8(ascii: "?")) ?? target.upperBound
        var pathStart = target.lowerBound
        // The route matched this prefix on these bytes, so it is there to strip.
        if route.stripPrefix && route.prefix != "/" { pathStart += route.prefix.utf8.count }
        let base = route.upstream.basePath
        out.requestLine(
            method: UnsafeRawBufferPointer(rebasing: raw[head.methodRange]),
            base: pathStart == queryStart && base.isEmpty ? "/" : base,
            path: UnsafeRawBufferPointer(rebasing: raw[pathStart..<queryStart]),
            query: UnsafeRawBufferPointer(rebasing: raw[queryStart..<target.upperBound]))
    }

    /// Serializes the head into `writer`. `bodyLength` nil with `chunked` false means no body; `upgrade` asks the
    /// upstream to switch to WebSocket (the client's own `Upgrade` and `Connection` are hop-by-hop, dropped like any
    /// other). `peerAddress` is appended to the `X-Forwarded-For` chain, which stays true; `clientAddress` (the
    /// peer, or what `trusted_proxies` derived) is the `X-Real-IP`.
    static func head(
        for head: RequestHead,
        route: RouteSettings,
        token: VerifiedToken?,
        peerAddress: String,
        clientAddress: String,
        requestID: RequestID,
        secure: Bool,
        bodyLength: UInt64?,
        chunked: Bool,
        upgrade: Bool = false,
        into writer: ByteWriter
    ) {
        var out = HeadWriter(into: writer)
        head.bytes.withUnsafeBytes { raw in
            writeRequestLine(for: head, route: route, raw: raw, into: &out)
            let clientHost = head.authorityRange.map { UnsafeRawBufferPointer(rebasing: raw[$0]) }
            if route.preserveHost, let clientHost, !clientHost.isEmpty {
                out.field("Host", bytes: clientHost)
            } else {
                out.field("Host", route.upstream.hostField)
            }
            let rules = HopByHop(raw, fields: head.fields)
            var incomingChain = false
            for field in head.fields {
                switch rules.disposition(of: field.name, in: raw, going: .toUpstream) {
                case .drop: continue
                case .authorization where !route.forwardAuthorization: continue
                case .appendClient: incomingChain = true  // below, joined with the client
                case .copy, .authorization:
                    out.field(
                        name: UnsafeRawBufferPointer(rebasing: raw[field.name]),
                        value: UnsafeRawBufferPointer(rebasing: raw[field.value]))
                }
            }
            // The incoming chain, in order, then the peer: joined as written, with no list of strings.
            out.beginField("X-Forwarded-For")
            for field in head.fields
            where incomingChain && rules.disposition(of: field.name, in: raw, going: .toUpstream) == .appendClient {
                out.appendValue(UnsafeRawBufferPointer(rebasing: raw[field.value]))
                out.appendValue(", ")
            }
            out.appendValue(peerAddress)
            out.endField()
            // The peer, or the client a trusted proxy named: authgate's own, the client's was dropped above.
            out.field("X-Real-IP", clientAddress)
            out.field("X-Forwarded-Proto", secure ? "https" : "http" as StaticString)
            if let clientHost, !clientHost.isEmpty { out.field("X-Forwarded-Host", bytes: clientHost) }
        }
        requestID.withBytes { out.field("X-Request-Id", bytes: $0) }
        if route.auth == .required, let token {
            out.field("X-Auth-Sub", token.subject)
            if let username = token.username { out.field("X-Auth-Username", username) }
            out.field("X-Auth-Groups", token.groups.joined(separator: ","))
            out.field("X-Auth-Token-Use", token.tokenUse)
            out.field("X-Auth-Claims", token.encodedPayload)
        }
        if upgrade {
            out.field("Upgrade", "websocket")
            out.field("Connection", "Upgrade")
        }
        if chunked {
            out.field("Transfer-Encoding", "chunked")
        } else if let bodyLength {
            out.field("Content-Length", decimal: bodyLength)
        }
        out.end()
    }
}
