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

    /// Serializes the head. `bodyLength` nil with `chunked` false means no body.
    static func head(
        for head: RequestHead,
        route: RouteSettings,
        token: VerifiedToken?,
        clientAddress: String,
        requestID: String,
        secure: Bool,
        bodyLength: UInt64?,
        chunked: Bool
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(head.bytes.count + 512)
        func field(_ name: String, _ value: String) {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: head.method.utf8)
        out.append(0x20)
        out.append(contentsOf: target(for: head, route: route).utf8)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)

        let clientHost = head.authority ?? ""
        field("Host", route.preserveHost && !clientHost.isEmpty ? clientHost : route.upstream.hostField)

        let removed = HopByHop.namesToRemove(bytes: head.bytes, fields: head.fields)
        var forwardedFor: [String] = []
        head.bytes.withUnsafeBytes { raw in
            for header in head.fields {
                let name = String(decoding: raw[header.name], as: UTF8.self)
                let lower = name.lowercased()
                if removed.contains(lower) || Self.replaced.contains(lower) || lower.hasPrefix("x-auth-") { continue }
                if lower == "authorization" && !route.forwardAuthorization { continue }
                if lower == "x-forwarded-for" {
                    forwardedFor.append(String(decoding: raw[header.value], as: UTF8.self))
                    continue
                }
                // Copied as bytes: a token-sized value is not worth a String on every request.
                out.append(contentsOf: raw[header.name])
                out.append(contentsOf: ": ".utf8)
                out.append(contentsOf: raw[header.value])
                out.append(contentsOf: "\r\n".utf8)
            }
        }
        forwardedFor.append(clientAddress)
        field("X-Forwarded-For", forwardedFor.joined(separator: ", "))
        field("X-Forwarded-Proto", secure ? "https" : "http")
        if !clientHost.isEmpty { field("X-Forwarded-Host", clientHost) }
        field("X-Request-Id", requestID)
        if route.auth == .required, let token {
            field("X-Auth-Sub", token.subject)
            if let username = token.username { field("X-Auth-Username", username) }
            field("X-Auth-Groups", token.groups.joined(separator: ","))
            field("X-Auth-Token-Use", token.tokenUse)
            field("X-Auth-Claims", token.encodedPayload)
        }
        if chunked {
            field("Transfer-Encoding", "chunked")
        } else if let bodyLength {
            field("Content-Length", String(bodyLength))
        }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    /// Fields authgate sets itself (or handles itself, like Expect), so the client's copies are dropped.
    static let replaced: Set<String> = [
        "host", "content-length", "expect", "x-forwarded-proto", "x-forwarded-host", "x-request-id",
    ]
}
