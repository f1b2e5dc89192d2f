/// Which fields of a message cross the proxy, decided in this one place, on bytes: the hop-by-hop fields
/// (RFC 9110 §7.6.1) and every field a `Connection` field names are removed both ways, and each direction
/// drops the fields authgate sets itself.
package struct HopByHop {
    /// The direction a message travels through the proxy.
    package enum Direction: Sendable {
        case toUpstream
        case toClient
    }

    /// What becomes of one field.
    package enum Disposition: Sendable, Equatable {
        case copy
        case drop
        /// `X-Forwarded-For` going upstream: authgate appends the client to it.
        case appendClient
        /// `Authorization` going upstream: the route decides.
        case authorization
    }

    /// Field names the message's `Connection` fields list, as ranges into its bytes. The first is kept apart
    /// because a message almost always lists one ("keep-alive", "close", "upgrade"), and an array for it
    /// would be allocated on every exchange.
    private var firstListed: Range<Int>?
    private var moreListed: [Range<Int>] = []

    /// Reads the `Connection` fields of a message whose head is `raw`.
    package init(_ raw: UnsafeRawBufferPointer, fields: [HeaderField]) {
        for field in fields where raw.equalsLowercase(field.name, "connection") {
            RequestHeadParser.forEachListElement(raw, field.value) { name in
                if firstListed == nil { firstListed = name } else { moreListed.append(name) }
            }
        }
    }

    package func disposition(of name: Range<Int>, in raw: UnsafeRawBufferPointer, going direction: Direction)
        -> Disposition
    {
        if Self.isHopByHop(name, raw) || isListed(name, raw) { return .drop }
        switch direction {
        case .toUpstream: return Self.towardsUpstream(name, raw)
        case .toClient: return Self.towardsClient(name, raw)
        }
    }

    private func isListed(_ name: Range<Int>, _ raw: UnsafeRawBufferPointer) -> Bool {
        guard let firstListed else { return false }
        return raw.equalsIgnoringCase(name, firstListed) || moreListed.contains { raw.equalsIgnoringCase(name, $0) }
    }

    // Switches on the length first: each field costs a comparison or two, and no table is looked up.

    private static func isHopByHop(_ name: Range<Int>, _ raw: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 2: return raw.equalsLowercase(name, "te")
        case 7: return raw.equalsLowercase(name, "trailer") || raw.equalsLowercase(name, "upgrade")
        case 10: return raw.equalsLowercase(name, "connection") || raw.equalsLowercase(name, "keep-alive")
        case 16: return raw.equalsLowercase(name, "proxy-connection")
        case 17: return raw.equalsLowercase(name, "transfer-encoding")
        case 19: return raw.equalsLowercase(name, "proxy-authorization")
        default: return false
        }
    }

    /// Fields authgate sets on requests it forwards (or handles itself, like `Expect`), and the forged identity;
    /// a client's `X-Real-IP` among them, so that only authgate's own reaches an upstream.
    private static func towardsUpstream(_ name: Range<Int>, _ raw: UnsafeRawBufferPointer) -> Disposition {
        if raw.hasLowercasePrefix(name, "x-auth-") { return .drop }
        let replaced: Bool
        switch name.count {
        case 4: replaced = raw.equalsLowercase(name, "host")
        case 6: replaced = raw.equalsLowercase(name, "expect")
        case 9: replaced = raw.equalsLowercase(name, "x-real-ip")
        case 12: replaced = raw.equalsLowercase(name, "x-request-id")
        case 13: return raw.equalsLowercase(name, "authorization") ? .authorization : .copy
        case 14: replaced = raw.equalsLowercase(name, "content-length")
        case 15: return raw.equalsLowercase(name, "x-forwarded-for") ? .appendClient : .copy
        case 16: replaced = raw.equalsLowercase(name, "x-forwarded-host")
        case 17: replaced = raw.equalsLowercase(name, "x-forwarded-proto")
        default: replaced = false
        }
        return replaced ? .drop : .copy
    }

    /// Fields authgate sets on answers it passes back.
    private static func towardsClient(_ name: Range<Int>, _ raw: UnsafeRawBufferPointer) -> Disposition {
        let replaced: Bool
        switch name.count {
        case 4: replaced = raw.equalsLowercase(name, "date")
        case 12: replaced = raw.equalsLowercase(name, "x-request-id")
        case 14: replaced = raw.equalsLowercase(name, "content-length")
        default: replaced = false
        }
        return replaced ? .drop : .copy
    }
}

extension HopByHop {
    /// Whether a request asks to become a WebSocket (RFC 6455 §4.1): a `GET` in HTTP/1.1 without a body whose
    /// `Upgrade` lists `websocket` and whose `Connection` lists `upgrade`. Only such a request, on a route with
    /// `websocket = true`, is forwarded as an upgrade; every other `Upgrade` (`h2c` among them) is dropped as
    /// hop-by-hop, and a body makes it an ordinary request, as Envoy treats one.
    package static func asksForWebSocket(_ head: RequestHead) -> Bool {
        guard head.version == .http11, head.framing == .none, head.method == "GET" else { return false }
        return head.bytes.withUnsafeBytes { raw in
            lists(raw, head.fields, field: "upgrade", "websocket")
                && lists(raw, head.fields, field: "connection", "upgrade")
        }
    }

    /// Whether a `101` answer switches to WebSocket: its `Upgrade` lists `websocket` (RFC 6455 §4.1).
    package static func switchesToWebSocket(_ raw: UnsafeRawBufferPointer, fields: [HeaderField]) -> Bool {
        lists(raw, fields, field: "upgrade", "websocket")
    }

    /// Whether a list field named `field` holds the element `element`, both compared case-insensitively.
    private static func lists(
        _ raw: UnsafeRawBufferPointer, _ fields: [HeaderField], field: StaticString, _ element: StaticString
    ) -> Bool {
        var found = false
        for candidate in fields where raw.equalsLowercase(candidate.name, field) {
            RequestHeadParser.forEachListElement(raw, candidate.value) { name in
                if raw.equalsLowercase(name, element) { found = true }
            }
        }
        return found
    }
}

extension UnsafeRawBufferPointer {
    /// Case-insensitive comparison of two ASCII ranges of the buffer.
    func equalsIgnoringCase(_ left: Range<Int>, _ right: Range<Int>) -> Bool {
        guard left.count == right.count else { return false }
        var other = right.lowerBound
        for position in left {
            if ByteClass.lowercased(self[position]) != ByteClass.lowercased(self[other]) { return false }
            other += 1
        }
        return true
    }

    /// Case-insensitive comparison of an ASCII range of the buffer with other bytes.
    func equalsIgnoringCase(_ range: Range<Int>, _ other: UnsafeRawBufferPointer) -> Bool {
        guard range.count == other.count else { return false }
        var index = 0
        for position in range {
            if ByteClass.lowercased(self[position]) != ByteClass.lowercased(other[index]) { return false }
            index += 1
        }
        return true
    }

    /// Whether the range starts with a lowercase literal, case-insensitively.
    package func hasLowercasePrefix(_ range: Range<Int>, _ prefix: StaticString) -> Bool {
        guard range.count >= prefix.utf8CodeUnitCount else { return false }
        return equalsLowercase(range.lowerBound..<range.lowerBound + prefix.utf8CodeUnitCount, prefix)
    }
}
