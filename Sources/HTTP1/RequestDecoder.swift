/// Turns the bytes of one connection into request events: a head, body slices, an end.
/// After `.end` it yields nothing until `startNextRequest()`, so pipelined requests wait their turn.
package struct RequestDecoder: Sendable {
    package enum Event: Sendable {
        case needMore
        case head(RequestHead)
        /// A slice of the buffer given to `decode`, valid until the next call.
        case body(Range<Int>)
        case end
    }

    private enum State: Sendable {
        case head(HeadScanner)
        case body(BodyDecoder)
    }

    package let limits: HTTPLimits
    private var state: State = .head(HeadScanner())

    package init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// True while no byte of a request head has been scanned: the connection is idle between requests.
    package var isBetweenRequests: Bool {
        if case .head(let scanner) = state { return scanner.scanned == 0 }
        return false
    }

    package var isReadingHead: Bool {
        if case .head = state { return true }
        return false
    }

    package var hasEnded: Bool {
        if case .body(let body) = state { return body.hasEnded }
        return false
    }

    package mutating func startNextRequest() {
        precondition(hasEnded, "the current request has not ended")
        state = .head(HeadScanner())
    }

    /// Decodes the next event from `buffer` (the connection's unconsumed bytes) and says how many to consume.
    package mutating func decode(_ buffer: UnsafeRawBufferPointer) throws(HTTPParseError) -> (Event, consumed: Int) {
        switch state {
        case .head(let scanner):
            return try decodeHead(buffer, scanner: scanner)
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

    private mutating func decodeHead(
        _ buffer: UnsafeRawBufferPointer,
        scanner: HeadScanner
    ) throws(HTTPParseError) -> (Event, consumed: Int) {
        var scanner = scanner
        let outcome = try scanner.scan(
            buffer, maxBytes: limits.maxHeadBytes, startLineLimit: limits.maxTargetBytes + 64,
            startLineTooLong: .targetTooLong, tooLarge: .headTooLarge
        )
        switch outcome {
        case .needMore(let skipped):
            state = .head(scanner)
            return (.needMore, skipped)
        case .complete(let skipped, let length):
            return try finishHead(
                UnsafeRawBufferPointer(rebasing: buffer[skipped..<(skipped + length)]), skipped: skipped)
        }
    }

    private mutating func finishHead(
        _ headBytes: UnsafeRawBufferPointer,
        skipped: Int
    ) throws(HTTPParseError) -> (Event, consumed: Int) {
        let head = try RequestHeadParser.parse(Array(headBytes), limits: limits)
        switch head.framing {
        case .none: state = .body(.empty)
        case .length(let length): state = .body(.length(length))
        case .chunked: state = .body(.chunked(limits: limits))
        }
        return (.head(head), skipped + headBytes.count)
    }
}
