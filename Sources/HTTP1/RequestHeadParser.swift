/// Parses one complete request head (request line, fields, blank line) strictly per RFC 9112.
/// Every framing ambiguity is an error: the caller refuses the request and closes the connection.
enum RequestHeadParser {
    static func parse(_ head: [UInt8], limits: HTTPLimits) throws(HTTPParseError) -> RequestHead {
        // withUnsafeBytes only rethrows untyped errors; carry the typed one out in a Result.
        let result = head.withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) -> RequestHead in try parse(raw, bytes: head, limits: limits) }
        }
        return try result.get()
    }

    private static func parse(
        _ raw: UnsafeRawBufferPointer,
        bytes: [UInt8],
        limits: HTTPLimits
    ) throws(HTTPParseError) -> RequestHead {
        // The scanner guarantees every line ends in CRLF and the head ends in an empty line.
        let end = raw.count
        var position = 0

        // Request line: method SP request-target SP HTTP-version CRLF, single spaces only.
        let methodStart = position
        while position < end, ByteClass.isToken(raw[position]) { position += 1 }
        guard position > methodStart else { throw HTTPParseError(.invalidMethod) }
        guard raw[position] == ByteClass.sp else {
            throw HTTPParseError(
                position < end && raw[position] == ByteClass.cr ? .malformedRequestLine : .invalidMethod)
        }
        let methodRange = methodStart..<position
        position += 1

        let targetStart = position
        while position < end, ByteClass.isTarget(raw[position]) { position += 1 }
        let targetEnd = position
        guard targetEnd > targetStart else { throw HTTPParseError(.invalidTarget) }
        if targetEnd - targetStart > limits.maxTargetBytes { throw HTTPParseError(.targetTooLong) }
        guard raw[position] == ByteClass.sp else {
            throw HTTPParseError(raw[position] == ByteClass.cr ? .malformedRequestLine : .invalidTarget)
        }
        position += 1

        let version = try parseVersion(raw, at: &position)
        guard raw[position] == ByteClass.cr, raw[position + 1] == ByteClass.lf else {
            throw HTTPParseError(.malformedRequestLine)
        }
        position += 2

        let (originRange, absoluteAuthority) = try classifyTarget(raw, targetStart..<targetEnd, method: methodRange)

        // Header fields.
        var fields: [HeaderField] = []
        fields.reserveCapacity(16)
        while raw[position] != ByteClass.cr {
            if raw[position] == ByteClass.sp || raw[position] == ByteClass.htab {
                throw HTTPParseError(.obsoleteLineFolding)
            }
            if fields.count == limits.maxHeaderFields { throw HTTPParseError(.tooManyHeaders) }
            fields.append(try parseField(raw, at: &position))
        }
        // Only the final empty line may start with CR.
        guard position + 2 == end else { throw HTTPParseError(.bareCarriageReturn) }

        return try interpret(
            raw, bytes: bytes, limits: limits, method: methodRange, target: originRange,
            absoluteAuthority: absoluteAuthority, version: version, fields: fields
        )
    }

    private static func parseVersion(
        _ raw: UnsafeRawBufferPointer,
        at position: inout Int
    ) throws(HTTPParseError) -> HTTPVersion {
        // "HTTP/" DIGIT "." DIGIT
        guard position + 8 <= raw.count,
            raw[position] == UInt8(ascii: "H"), raw[position + 1] == UInt8(ascii: "T"),
            raw[position + 2] == UInt8(ascii: "T"), raw[position + 3] == UInt8(ascii: "P"),
            raw[position + 4] == UInt8(ascii: "/"), raw[position + 6] == UInt8(ascii: ".")
        else { throw HTTPParseError(.malformedRequestLine) }
        let major = raw[position + 5]
        let minor = raw[position + 7]
        guard (48...57).contains(major), (48...57).contains(minor) else {
            throw HTTPParseError(.malformedRequestLine)
        }
        position += 8
        switch (major, minor) {
        case (49, 49): return .http11
        case (49, 48): return .http10
        default: throw HTTPParseError(.unsupportedVersion)
        }
    }

    /// Returns the origin-form part of the target and, for absolute-form, the authority.
    private static func classifyTarget(
        _ raw: UnsafeRawBufferPointer,
        _ target: Range<Int>,
        method: Range<Int>
    ) throws(HTTPParseError) -> (Range<Int>, Range<Int>?) {
        let first = raw[target.lowerBound]
        if first == UInt8(ascii: "/") {
            // A fragment is never sent on the wire (RFC 9110 §4.2.4); refusing it avoids two readings of the path.
            if raw[target].contains(UInt8(ascii: "#")) { throw HTTPParseError(.invalidTarget) }
            return (target, nil)
        }
        if first == UInt8(ascii: "*"), target.count == 1, raw.equalsLowercase(method, "options") {
            return (target, nil)
        }
        // absolute-form: "http://" or "https://" authority [path-abempty] [ "?" query ]
        var schemeEnd = target.lowerBound
        while schemeEnd < target.upperBound, raw[schemeEnd] != UInt8(ascii: ":") { schemeEnd += 1 }
        let scheme = target.lowerBound..<schemeEnd
        guard raw.equalsLowercase(scheme, "http") || raw.equalsLowercase(scheme, "https"),
            schemeEnd + 3 <= target.upperBound,
            raw[schemeEnd + 1] == UInt8(ascii: "/"), raw[schemeEnd + 2] == UInt8(ascii: "/")
        else { throw HTTPParseError(.invalidTarget) }
        let authorityStart = schemeEnd + 3
        var authorityEnd = authorityStart
        while authorityEnd < target.upperBound,
            raw[authorityEnd] != UInt8(ascii: "/"), raw[authorityEnd] != UInt8(ascii: "?")
        {
            // No userinfo, no fragment: neither has a meaning for a request.
            guard ByteClass.isHost(raw[authorityEnd]) else { throw HTTPParseError(.invalidTarget) }
            authorityEnd += 1
        }
        guard authorityEnd > authorityStart else { throw HTTPParseError(.invalidTarget) }
        let rest = authorityEnd..<target.upperBound
        if raw[rest].contains(UInt8(ascii: "#")) { throw HTTPParseError(.invalidTarget) }
        // "http://host?x" has an empty path, which means "/"; we refuse rather than synthesize bytes.
        guard !rest.isEmpty, raw[rest.lowerBound] == UInt8(ascii: "/") else {
            if rest.isEmpty { return (target.upperBound..<target.upperBound, authorityStart..<authorityEnd) }
            throw HTTPParseError(.invalidTarget)
        }
        return (rest, authorityStart..<authorityEnd)
    }

    static func parseField(
        _ raw: UnsafeRawBufferPointer,
        at start: inout Int
    ) throws(HTTPParseError) -> HeaderField {
        // A local position, written back once: the inout one was stored to memory on every byte.
        var position = start
        let nameStart = position
        while ByteClass.isToken(raw[position]) { position += 1 }
        let nameEnd = position
        // No whitespace between name and colon (RFC 9112 §5.1): a classic smuggling vector.
        guard nameEnd > nameStart, raw[position] == ByteClass.colon else {
            throw HTTPParseError(.invalidHeaderName)
        }
        position += 1
        while raw[position] == ByteClass.sp || raw[position] == ByteClass.htab { position += 1 }
        let valueStart = position
        // Plain bytes sixteen and eight at a time (a kilobyte token is most of a head) to the first other byte:
        // the CR that ends the value, an HTAB, or one that is refused. The head is complete, so a CR comes
        // before its end.
        while true {
            position = WordScan.endOfPlainFieldValue(raw, from: position)
            let byte = raw[position]
            if byte == ByteClass.cr { break }
            guard ByteClass.isFieldValue(byte) else { throw HTTPParseError(.invalidHeaderValue) }
            position += 1
        }
        // Trailing whitespace is not part of the value (RFC 9112 §5).
        var valueEnd = position
        while valueEnd > valueStart, raw[valueEnd - 1] == ByteClass.sp || raw[valueEnd - 1] == ByteClass.htab {
            valueEnd -= 1
        }
        guard raw[position + 1] == ByteClass.lf else { throw HTTPParseError(.bareCarriageReturn) }
        start = position + 2
        return HeaderField(name: nameStart..<nameEnd, value: valueStart..<valueEnd)
    }

    private static func interpret(
        _ raw: UnsafeRawBufferPointer,
        bytes: [UInt8],
        limits: HTTPLimits,
        method: Range<Int>,
        target: Range<Int>,
        absoluteAuthority: Range<Int>?,
        version: HTTPVersion,
        fields: [HeaderField]
    ) throws(HTTPParseError) -> RequestHead {
        var contentLength: UInt64?
        var sawTransferEncoding = false
        var chunked = false
        var host: Range<Int>?
        var connectionClose = false
        var connectionKeepAlive = false
        var expectsContinue = false

        for field in fields {
            let name = field.name
            switch name.count {
            case 4 where raw.equalsLowercase(name, "host"):
                guard host == nil else { throw HTTPParseError(.duplicateHost) }
                try validateHost(raw, field.value)
                host = field.value
            case 6 where raw.equalsLowercase(name, "expect"):
                if raw.equalsLowercase(field.value, "100-continue") {
                    expectsContinue = true
                } else {
                    throw HTTPParseError(.unsupportedExpectation)
                }
            case 10 where raw.equalsLowercase(name, "connection"):
                forEachListElement(raw, field.value) { element in
                    if raw.equalsLowercase(element, "close") { connectionClose = true }
                    if raw.equalsLowercase(element, "keep-alive") { connectionKeepAlive = true }
                }
            case 14 where raw.equalsLowercase(name, "content-length"):
                guard contentLength == nil else { throw HTTPParseError(.duplicateContentLength) }
                contentLength = try parseContentLength(raw, field.value)
            case 17 where raw.equalsLowercase(name, "transfer-encoding"):
                // Exactly one field whose whole value is "chunked": anything else could be read two ways.
                guard !sawTransferEncoding else { throw HTTPParseError(.unsupportedTransferEncoding) }
                sawTransferEncoding = true
                guard raw.equalsLowercase(field.value, "chunked") else {
                    throw HTTPParseError(.unsupportedTransferEncoding)
                }
                chunked = true
            default:
                break
            }
        }

        if sawTransferEncoding {
            if version == .http10 { throw HTTPParseError(.transferEncodingInHTTP10) }
            if contentLength != nil { throw HTTPParseError(.contentLengthWithTransferEncoding) }
        }
        if version == .http11 && host == nil && limits.requireHost { throw HTTPParseError(.missingHost) }
        if let length = contentLength, limits.maxBodyBytes > 0, length > limits.maxBodyBytes {
            throw HTTPParseError(.bodyTooLarge)
        }

        let framing: BodyFraming
        if chunked {
            framing = .chunked
        } else if let length = contentLength, length > 0 {
            framing = .length(length)
        } else {
            framing = .none
        }
        let keepAlive = version == .http11 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        return RequestHead(
            bytes: bytes,
            methodRange: method,
            targetRange: target,
            version: version,
            fields: fields,
            framing: framing,
            keepAlive: keepAlive,
            // RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
            expectsContinue: expectsContinue && version == .http11,
            authorityRange: absoluteAuthority ?? host
        )
    }

    static func parseContentLength(
        _ raw: UnsafeRawBufferPointer,
        _ value: Range<Int>
    ) throws(HTTPParseError) -> UInt64 {
        // 1*DIGIT only: no sign, no list, no spaces inside; 18 digits cannot overflow.
        guard !value.isEmpty, value.count <= 18 else { throw HTTPParseError(.invalidContentLength) }
        var length: UInt64 = 0
        for position in value {
            let byte = raw[position]
            guard byte >= 48 && byte <= 57 else { throw HTTPParseError(.invalidContentLength) }
            length = length * 10 + UInt64(byte - 48)
        }
        return length
    }

    private static func validateHost(_ raw: UnsafeRawBufferPointer, _ value: Range<Int>) throws(HTTPParseError) {
        guard !value.isEmpty else { throw HTTPParseError(.invalidHost) }
        for position in value where !ByteClass.isHost(raw[position]) {
            throw HTTPParseError(.invalidHost)
        }
    }

    /// Calls `body` with each non-empty element of a comma-separated list, trimmed of whitespace.
    static func forEachListElement(
        _ raw: UnsafeRawBufferPointer,
        _ value: Range<Int>,
        _ body: (Range<Int>) -> Void
    ) {
        var start = value.lowerBound
        while start < value.upperBound {
            var end = start
            while end < value.upperBound, raw[end] != UInt8(ascii: ",") { end += 1 }
            var elementStart = start
            var elementEnd = end
            while elementStart < elementEnd, raw[elementStart] == ByteClass.sp || raw[elementStart] == ByteClass.htab {
                elementStart += 1
            }
            while elementEnd > elementStart,
                raw[elementEnd - 1] == ByteClass.sp || raw[elementEnd - 1] == ByteClass.htab
            {
                elementEnd -= 1
            }
            if elementEnd > elementStart { body(elementStart..<elementEnd) }
            start = end + 1
        }
    }
}
