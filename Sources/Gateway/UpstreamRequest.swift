import HTTP1
import JWT

/// The request head authgate sends upstream: its own framing, the path that was authorized, and the header
/// rules of SPEC.md "To the upstream". Everything from the client is re-serialized, never copied raw.
struct UpstreamRequest {
    /// The path and query the upstream receives, after `strip_prefix` and the upstream's base path.
    static func target(for head: RequestHead, route: RouteSettings) -> String {
        let path = head.path
        let target = head.target
        let query = target.utf8.count > path.utf8.count ? String(target.dropFirst(path.count)) : ""
        var rest = path
        if route.stripPrefix && route.prefix != "/" {
            rest = String(path.dropFirst(route.prefix.count))
        }
        let base = route.upstream.basePath
        let joined: String
        if rest.isEmpty {
            joined = base.isEmpty ? "/" : base
        } else {
            joined = base + rest
        }
        return joined + query
    }

    /// Serializes the head. `bodyLength` nil with `chunked` false means no body; `upgrade` asks the upstream to switch
    /// to WebSocket (the client's own `Upgrade` and `Connection` are hop-by-hop, dropped like any other). `peerAddress` is appended to the
    /// `X-Forwarded-For` chain, which stays true; `clientAddress` (the peer, or what `trusted_proxies` derived) is
    /// the `X-Real-IP`.
    static func head(
        for head: RequestHead,
        route: RouteSettings,
        token: VerifiedToken?,
        peerAddress: String,
        clientAddress: String,
        requestID: String,
        secure: Bool,
        bodyLength: UInt64?,
        chunked: Bool,
        upgrade: Bool = false
    ) -> [UInt8] {
        var out = HeadWriter(capacity: head.bytes.count + 512)
        var clientHost: String?
        head.bytes.withUnsafeBytes { raw in
            out.requestLine(
                method: UnsafeRawBufferPointer(rebasing: raw[head.methodRange]), target: target(for: head, route: route)
            )
            clientHost = head.authorityRange.map(head.string)
            if route.preserveHost, let clientHost, !clientHost.isEmpty {
                out.field("Host", clientHost)
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
        }
        // The peer, or the client a trusted proxy named: authgate's own, the client's was dropped above.
        out.field("X-Real-IP", clientAddress)
        out.field("X-Forwarded-Proto", secure ? "https" : "http")
        if let clientHost, !clientHost.isEmpty { out.field("X-Forwarded-Host", clientHost) }
        out.field("X-Request-Id", requestID)
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
        return out.bytes
    }
}
