/// How an upstream's response body is delimited (RFC 9112 §6.3).
package enum ResponseFraming: Sendable, Hashable {
    case none
    case length(UInt64)
    case chunked
    /// Until the upstream closes the connection.
    case untilClose
}

/// A parsed response head from an upstream, with byte ranges into its own copy of the head.
package struct ResponseHead: Sendable {
    package let bytes: [UInt8]
    package let status: Int
    package let reasonRange: Range<Int>
    package let version: HTTPVersion
    package let fields: [HeaderField]
    package let framing: ResponseFraming
    /// Whether the upstream connection may carry another request after this response.
    package let keepAlive: Bool

    /// 1xx but 101: another head follows for the same request.
    package var isInformational: Bool { status < 200 && status != 101 }
    /// 101: the connection stops speaking HTTP; the decoder accepts it only when the request asked for it.
    package var switchesProtocols: Bool { status == 101 }
    package var reason: String { String(decoding: bytes[reasonRange], as: UTF8.self) }

    package func firstValue(_ lowercaseName: StaticString) -> String? {
        bytes.withUnsafeBytes { raw in
            fields.first { raw.equalsLowercase($0.name, lowercaseName) }.map {
                String(decoding: bytes[$0.value], as: UTF8.self)
            }
        }
    }
}

/// Decodes an upstream's answers with the same strictness as requests: a response that could be framed two
/// ways is an error (the proxy answers 502 and drops the connection), never a guess.
package struct ResponseDecoder: Sendable {
    package enum Event: Sendable {
        case needMore
        case head(ResponseHead)
        case body(Range<Int>)
        case end
    }

    private enum State: Sendable {
        case head(HeadScanner)
        case body(BodyDecoder)
        /// A 101 came: what follows is not HTTP, and the connection hands it to its tunnel, never to `decode`.
        case switched
    }

    package let limits: HTTPLimits
    private var state: State = .head(HeadScanner())
    private var requestWasHead = false
    /// The request asked for `Upgrade: websocket`: a 101 that switches to it is then an answer, not an error.
    private var upgradeAsked = false
    /// The storage of the last head's bytes and fields, used again for the next answer on this connection: by
    /// then the exchange has let go of the last head, so no allocation is made for either.
    private var headStorage: [UInt8] = []
    private var fieldStorage: [HeaderField] = []

    package init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// Prepares for the answer to the next request; `head` says whether that request is a HEAD, `upgrade` whether it
    /// asked to switch to WebSocket.
    package mutating func expectResponse(toHead head: Bool, upgrade: Bool = false) {
        state = .head(HeadScanner())
        requestWasHead = head
        upgradeAsked = upgrade
    }

    package var hasEnded: Bool {
        if case .body(let body) = state { return body.hasEnded }
        return false
    }

    /// Whether no byte of the answer has arrived yet (a reused connection that died may be retried then).
    package var isAwaitingFirstByte: Bool {
        if case .head(let scanner) = state { return scanner.scanned == 0 }
        return false
    }

    package mutating func decode(_ buffer: UnsafeRawBufferPointer) throws(HTTPParseError) -> (Event, consumed: Int) {
        switch state {
        case .switched:
            return (.needMore, 0)
        case .head(var scanner):
            let outcome = try scanner.scan(
                buffer, maxBytes: limits.maxHeadBytes, startLineLimit: limits.maxHeadBytes,
                startLineTooLong: .headTooLarge, tooLarge: .headTooLarge
            )
            switch outcome {
            case .needMore(let skipped):
                state = .head(scanner)
                return (.needMore, skipped)
            case .complete(let skipped, let length):
                headStorage.removeAll(keepingCapacity: true)
                headStorage.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[skipped..<(skipped + length)]))
                fieldStorage.removeAll(keepingCapacity: true)
                let head = try Self.parseHead(
                    headStorage, fields: &fieldStorage, requestWasHead: requestWasHead, upgradeAsked: upgradeAsked,
                    limits: limits)
                if head.switchesProtocols {
                    state = .switched
                } else if head.isInformational {
                    state = .head(HeadScanner())
                } else {
                    switch head.framing {
                    case .none: state = .body(.empty)
                    case .length(let length): state = .body(.length(length))
                    case .chunked: state = .body(.chunked(limits: limits))
                    case .untilClose: state = .body(.untilClose)
                    }
                }
                return (.head(head), skipped + length)
            }
        case .body(var body):
            let (output, consumed) = try body.decode(buffer)
            state = .body(body)
            switch output {
            case .needMore: return (.needMore, consumed)
            case .data(let range): return (.body(range), consumed)
            case .end: return (.end, consumed)
            }
        }
    }

    /// The upstream closed its side. Ends a close-delimited body; anywhere else the answer is cut short.
    package mutating func peerClosed() throws(HTTPParseError) -> Event {
        guard case .body(var body) = state else { throw HTTPParseError(.truncatedResponse) }
        let wasEnded = body.hasEnded
        guard body.peerClosed() else { throw HTTPParseError(.truncatedResponse) }
        state = .body(body)
        return wasEnded ? .needMore : .end
    }

    static func parseHead(
        _ head: [UInt8], requestWasHead: Bool, upgradeAsked: Bool = false, limits: HTTPLimits
    ) throws(HTTPParseError) -> ResponseHead {
        var fields: [HeaderField] = []
        return try parseHead(
            head, fields: &fields, requestWasHead: requestWasHead, upgradeAsked: upgradeAsked, limits: limits)
    }

    /// `fields` is empty storage that the head's fields are appended to.
    static func parseHead(
        _ head: [UInt8], fields: inout [HeaderField], requestWasHead: Bool, upgradeAsked: Bool, limits: HTTPLimits
    ) throws(HTTPParseError) -> ResponseHead {
        let result = head.withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) -> ResponseHead in
                try parseHead(
                    raw, bytes: head, fields: &fields, requestWasHead: requestWasHead, upgradeAsked: upgradeAsked,
                    limits: limits)
            }
        }
        return try result.get()
    }

    private static func parseHead(
        _ raw: UnsafeRawBufferPointer,
        bytes: [UInt8],
        fields: inout [HeaderField],
        requestWasHead: Bool,
        upgradeAsked: Bool,
        limits: HTTPLimits
    ) throws(HTTPParseError) -> ResponseHead {
        // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF
        guard raw.count >= 14,
            raw[0] == UInt8(ascii: "H"), raw[1] == UInt8(ascii: "T"), raw[2] == UInt8(ascii: "T"),
            raw[3] == UInt8(ascii: "P"), raw[4] == UInt8(ascii: "/"), raw[5] == UInt8(ascii: "1"),
            raw[6] == UInt8(ascii: "."), raw[8] == ByteClass.sp
        else { throw HTTPParseError(.malformedStatusLine) }
        let version: HTTPVersion
        switch raw[7] {
        case UInt8(ascii: "1"): version = .http11
        case UInt8(ascii: "0"): version = .http10
        default: throw HTTPParseError(.malformedStatusLine)
        }
        var status = 0
        for index in 9..<12 {
            let digit = raw[index]
            guard (48...57).contains(digit) else { throw HTTPParseError(.malformedStatusLine) }
            status = status * 10 + Int(digit - 48)
        }
        guard status >= 100 else { throw HTTPParseError(.malformedStatusLine) }
        var position = 12
        var reasonStart = 12
        if raw[position] == ByteClass.sp {
            position += 1
            reasonStart = position
            while raw[position] != ByteClass.cr {
                guard ByteClass.isFieldValue(raw[position]) else { throw HTTPParseError(.malformedStatusLine) }
                position += 1
            }
        }
        let reasonRange = reasonStart..<position
        guard raw[position] == ByteClass.cr, raw[position + 1] == ByteClass.lf else {
            throw HTTPParseError(.malformedStatusLine)
        }
        position += 2

        // One allocation for a usual answer instead of four as the list doubles (none when the storage is reused).
        fields.reserveCapacity(min(limits.maxHeaderFields, 16))
        while raw[position] != ByteClass.cr {
            if raw[position] == ByteClass.sp || raw[position] == ByteClass.htab {
                throw HTTPParseError(.obsoleteLineFolding)
            }
            if fields.count == limits.maxHeaderFields { throw HTTPParseError(.tooManyHeaders) }
            fields.append(try RequestHeadParser.parseField(raw, at: &position))
        }
        guard position + 2 == raw.count else { throw HTTPParseError(.bareCarriageReturn) }

        var contentLength: UInt64?
        var transferEncoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        for field in fields {
            let name = field.name
            if raw.equalsLowercase(name, "content-length") {
                // Even equal duplicates are refused, as for requests (and as nginx does with upstreams).
                guard contentLength == nil else { throw HTTPParseError(.duplicateContentLength) }
                contentLength = try RequestHeadParser.parseContentLength(raw, field.value)
            } else if raw.equalsLowercase(name, "transfer-encoding") {
                guard !transferEncoding, raw.equalsLowercase(field.value, "chunked") else {
                    throw HTTPParseError(.unsupportedTransferEncoding)
                }
                transferEncoding = true
            } else if raw.equalsLowercase(name, "connection") {
                RequestHeadParser.forEachListElement(raw, field.value) { element in
                    if raw.equalsLowercase(element, "close") { connectionClose = true }
                    if raw.equalsLowercase(element, "keep-alive") { connectionKeepAlive = true }
                }
            }
        }
        // A 101 is an answer only to a WebSocket upgrade authgate forwarded, and only if it switches to that
        // (RFC 6455 §4.1: `Upgrade: websocket`); any other would leave a connection speaking who knows what.
        if status == 101 {
            guard upgradeAsked, version == .http11, HopByHop.switchesToWebSocket(raw, fields: fields) else {
                throw HTTPParseError(.malformedStatusLine)
            }
        }
        let framing: ResponseFraming
        if requestWasHead || status < 200 || status == 204 || status == 304 {
            framing = .none
        } else {
            if transferEncoding && contentLength != nil { throw HTTPParseError(.contentLengthWithTransferEncoding) }
            if transferEncoding && version == .http10 { throw HTTPParseError(.transferEncodingInHTTP10) }
            if transferEncoding {
                framing = .chunked
            } else if let contentLength {
                framing = contentLength == 0 ? .none : .length(contentLength)
            } else {
                framing = .untilClose
            }
        }
        var keepAlive = version == .http11 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        if framing == .untilClose || status == 101 { keepAlive = false }
        return ResponseHead(
            bytes: bytes, status: status, reasonRange: reasonRange, version: version, fields: fields, framing: framing,
            keepAlive: keepAlive
        )
    }
}
