package import HTTP1

/// The answers a handler gives through its connection: whole ones authgate makes, and streamed ones (a
/// proxied answer's head, its body, its end). Each ends the exchange through `finishExchange`.
extension ClientConnection {

    /// Writes `100 Continue` if the client asked for it and it was not yet sent. Call before reading a body.
    package func continueIfExpected() {
        if http.handlerWillReadBody() {
            send(Self.continueLine)
        }
    }

    private static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Answers the current request with a complete response that authgate made itself.
    package func respond(
        _ status: HTTPStatus,
        headers: [(String, String)] = [],
        body: [UInt8],
        keepAlive: Bool = true
    ) {
        loop.assertOnLoop()
        guard lifecycle.exchange != nil else { return }
        let staysOpen = http.responseWillStart(keepAlive: keepAlive && !lifecycle.draining)
        let bytes = answer(
            status, headers: headers, body: currentIsHead ? nil : body, length: body.count,
            keepAlive: staysOpen)
        record.status = status.code
        record.bytesSent = bytes.count
        finishExchange(sendingLast: bytes)
    }

    /// A whole answer made by authgate: its head, and its body unless the request was HEAD.
    func answer(
        _ status: HTTPStatus, headers: [(String, String)], body: [UInt8]?, length: Int, keepAlive: Bool
    ) -> [UInt8] {
        var head = HeadWriter(capacity: 256 + length)
        head.statusLine(status.code, reason: status.reason)
        for (name, value) in headers { head.field(name: name, value: value) }
        head.fieldLines(extraAnswerFields)
        // A 204 has no body and no Content-Length (RFC 9110 §8.6).
        if status.code != 204 { head.field("Content-Length", decimal: UInt64(length)) }
        writeCommonFields(&head, keepAlive: keepAlive)
        if let body { head.appendBody(body) }
        return head.finish()
    }

    /// The fields every answer carries, last: Date, X-Request-Id and what the connection does next.
    fileprivate func writeCommonFields(_ head: inout HeadWriter, keepAlive: Bool) {
        head.field("Date", loop.httpDate())
        currentRequestID.withBytes { head.field("X-Request-Id", bytes: $0) }
        if !keepAlive {
            head.field("Connection", "close")
        } else if currentVersion == .http10 {
            head.field("Connection", "keep-alive")
        }
        head.end()
    }

    /// Answers with the JSON `{"message": …}` body of the status.
    package func respondWithMessage(_ status: HTTPStatus, headers: [(String, String)] = [], keepAlive: Bool = true) {
        var allHeaders = headers
        allHeaders.append(("Content-Type", "application/json"))
        respond(status, headers: allHeaders, body: status.messageBody, keepAlive: keepAlive)
    }

    /// How a streamed answer's body is delimited towards the client.
    package enum StreamFraming: Sendable {
        case none
        case length(UInt64)
        /// Re-chunked (HTTP/1.1 clients) or delimited by closing the connection (HTTP/1.0 clients).
        case unknownLength
    }

    /// Starts an answer whose body follows with `sendBody` and `endResponse`. `fields` writes the answer's own
    /// fields (the upstream's, as bytes); `extraAnswerFields`, authgate's framing and common fields follow them.
    package func beginResponse(
        status: Int, reason: UnsafeRawBufferPointer, framing: StreamFraming, keepAlive: Bool = true,
        fields: (inout HeadWriter) -> Void
    ) {
        loop.assertOnLoop()
        guard lifecycle.exchange?.response == .notStarted else { return }
        var wantsKeepAlive = keepAlive
        var chunked = false
        if case .unknownLength = framing {
            chunked = currentVersion == .http11 && !currentIsHead
            if currentVersion != .http11 { wantsKeepAlive = false }
        }
        let staysOpen = http.responseWillStart(keepAlive: wantsKeepAlive && !lifecycle.draining)
        let writer = loop.takeWriter()
        defer { loop.giveBack(writer) }
        var head = HeadWriter(into: writer)
        head.statusLine(status, reason: reason)
        fields(&head)
        head.fieldLines(extraAnswerFields)
        if case .length(let length) = framing { head.field("Content-Length", decimal: length) }
        if chunked { head.field("Transfer-Encoding", "chunked") }
        writeCommonFields(&head, keepAlive: staysOpen)
        record.status = status
        record.bytesSent = head.count
        lifecycle.responseStarted(chunked: chunked)
        // Held for the body bytes that usually arrive in the same read: one write for both.
        guard !lifecycle.isClosed else { return }
        head.withBytes { channel.writeSoon($0) }
    }

    /// Relays a `101` that switches to WebSocket and hands the connection to `tunnel`: its bytes are no longer HTTP.
    /// `fields` writes the upstream's own fields; `Upgrade`, `Connection` and the common fields are authgate's.
    /// Returns false, having written nothing, when the connection cannot switch (closed, or an answer started).
    package func switchProtocols(
        reason: UnsafeRawBufferPointer, tunnel: Tunnel, fields: (inout HeadWriter) -> Void
    ) -> Bool {
        loop.assertOnLoop()
        guard !lifecycle.isClosed, lifecycle.maySwitchProtocols, http.switchingProtocols() else {
            return false
        }
        let writer = loop.takeWriter()
        defer { loop.giveBack(writer) }
        var head = HeadWriter(into: writer)
        head.statusLine(101, reason: reason)
        fields(&head)
        head.fieldLines(extraAnswerFields)
        head.field("Upgrade", "websocket")
        head.field("Connection", "Upgrade")
        head.field("Date", loop.httpDate())
        currentRequestID.withBytes { head.field("X-Request-Id", bytes: $0) }
        head.end()
        record.status = 101
        record.bytesSent = head.count
        becomeTunnel(tunnel)
        head.withBytes { channel.write($0) }
        return true
    }

    /// Bytes from the tunnel's upstream, as they came.
    func sendTunnelBytes(_ bytes: UnsafeRawBufferPointer) {
        guard tunnel != nil else { return }
        record.bytesSent += bytes.count
        channel.write(bytes)
    }

    /// Body bytes of a streamed answer (chunk-framed when the answer is chunked).
    package func sendBody(_ bytes: UnsafeRawBufferPointer) {
        guard case .streaming(let chunked)? = lifecycle.exchange?.response, !bytes.isEmpty, !currentIsHead else {
            return
        }
        // Held to the end of the event: if the answer ends in it, its record is written before its last byte leaves.
        if chunked {
            let framed = ChunkedEncoder.chunk(bytes)
            record.bytesSent += framed.count
            channel.writeSoon(framed)
        } else {
            record.bytesSent += bytes.count
            channel.writeSoon(bytes)
        }
        noteOutputQueued()
    }

    /// Ends a streamed answer.
    package func endResponse() {
        guard case .streaming(let chunked)? = lifecycle.exchange?.response else { return }
        if chunked {
            record.bytesSent += ChunkedEncoder.lastChunk.count
            finishExchange(sendingLast: ChunkedEncoder.lastChunk)
        } else {
            finishExchange()
        }
    }

    /// Whether a streamed answer has begun (an error can then no longer be answered, only the connection closed).
    package var hasStartedResponse: Bool {
        if case .streaming? = lifecycle.exchange?.response { return true }
        return false
    }
}
