/// Turns the bytes of one connection into request events: a head, body slices, an end.
/// After `.end` it yields nothing until `startNextRequest()`, so pipelined requests wait their turn.
public struct RequestDecoder: Sendable {
    public enum Event: Sendable {
        case needMore
        case head(RequestHead)
        /// A slice of the buffer given to `decode`, valid until the next call.
        case body(Range<Int>)
        case end
    }

    private enum State: Sendable {
        case head(scanned: Int, lineStart: Int)
        case lengthBody(remaining: UInt64)
        case chunkedBody(ChunkedDecoder)
        case endPending
        case ended
    }

    public let limits: HTTPLimits
    private var state: State = .head(scanned: 0, lineStart: 0)

    public init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// True while no byte of a request head has been scanned: the connection is idle between requests.
    public var isBetweenRequests: Bool {
        if case .head(let scanned, _) = state { return scanned == 0 }
        return false
    }

    public var isReadingHead: Bool {
        if case .head = state { return true }
        return false
    }

    public var hasEnded: Bool {
        if case .ended = state { return true }
        return false
    }

    public mutating func startNextRequest() {
        precondition(hasEnded, "the current request has not ended")
        state = .head(scanned: 0, lineStart: 0)
    }

    /// Decodes the next event from `buffer` (the connection's unconsumed bytes) and says how many to consume.
    public mutating func decode(_ buffer: UnsafeRawBufferPointer) throws(HTTPParseError) -> (Event, consumed: Int) {
        switch state {
        case .head(let scanned, let lineStart):
            return try decodeHead(buffer, scanned: scanned, lineStart: lineStart)
        case .lengthBody(let remaining):
            guard !buffer.isEmpty else { return (.needMore, 0) }
            let take = Int(min(remaining, UInt64(buffer.count)))
            state = remaining == UInt64(take) ? .endPending : .lengthBody(remaining: remaining - UInt64(take))
            return (.body(0..<take), take)
        case .chunkedBody(var decoder):
            let (output, consumed) = try decoder.decode(buffer)
            switch output {
            case .needMore:
                state = .chunkedBody(decoder)
                return (.needMore, consumed)
            case .data(let range):
                state = .chunkedBody(decoder)
                return (.body(range), consumed)
            case .end:
                state = .ended
                return (.end, consumed)
            }
        case .endPending:
            state = .ended
            return (.end, 0)
        case .ended:
            return (.needMore, 0)
        }
    }

    private mutating func decodeHead(
        _ buffer: UnsafeRawBufferPointer,
        scanned: Int,
        lineStart: Int
    ) throws(HTTPParseError) -> (Event, consumed: Int) {
        var base = 0
        if scanned == 0 {
            // RFC 9112 §2.2: empty lines before the request line are ignored (robustness for old clients).
            while base + 1 < buffer.count, buffer[base] == ByteClass.cr, buffer[base + 1] == ByteClass.lf {
                base += 2
            }
            if base < buffer.count, buffer[base] == ByteClass.lf { throw HTTPParseError(.bareLineFeed) }
            // A lone CR may be the start of one more empty line: wait for the next byte before scanning.
            if base + 1 == buffer.count, buffer[base] == ByteClass.cr { return (.needMore, base) }
        }
        var position = base + scanned
        var lineStart = base + lineStart
        while position < buffer.count {
            let byte = buffer[position]
            position += 1
            guard byte == ByteClass.lf else { continue }
            let lineFeedIndex = position - 1
            guard lineFeedIndex > lineStart, buffer[lineFeedIndex - 1] == ByteClass.cr else {
                throw HTTPParseError(.bareLineFeed)
            }
            if position - base > limits.maxHeadBytes {
                throw HTTPParseError(lineStart == base ? .targetTooLong : .headTooLarge)
            }
            if lineFeedIndex - 1 == lineStart {
                return try finishHead(UnsafeRawBufferPointer(rebasing: buffer[base..<position]), skipped: base)
            }
            lineStart = position
        }
        if position - base > limits.maxHeadBytes {
            throw HTTPParseError(lineStart == base ? .targetTooLong : .headTooLarge)
        }
        if lineStart == base && position - base > limits.maxTargetBytes + 64 { throw HTTPParseError(.targetTooLong) }
        state = .head(scanned: position - base, lineStart: lineStart - base)
        return (.needMore, base)
    }

    private mutating func finishHead(
        _ headBytes: UnsafeRawBufferPointer,
        skipped: Int
    ) throws(HTTPParseError) -> (Event, consumed: Int) {
        let head = try RequestHeadParser.parse(Array(headBytes), limits: limits)
        switch head.framing {
        case .none: state = .endPending
        case .length(let length): state = .lengthBody(remaining: length)
        case .chunked: state = .chunkedBody(ChunkedDecoder(limits: limits))
        }
        return (.head(head), skipped + headBytes.count)
    }
}
