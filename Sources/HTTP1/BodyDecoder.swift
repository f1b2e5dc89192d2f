/// The body of one message, delimited one of the ways RFC 9112 §6 allows; shared by requests and answers.
struct BodyDecoder: Sendable {
    enum Output {
        case needMore
        case data(Range<Int>)
        case end
    }

    private enum State: Sendable {
        case length(remaining: UInt64)
        case chunked(ChunkedDecoder)
        case untilClose
        case endPending
        case ended
    }

    private var state: State

    /// No body: the next decode reports its end.
    static let empty = BodyDecoder(state: .endPending)

    static func length(_ length: UInt64) -> BodyDecoder {
        BodyDecoder(state: length == 0 ? .endPending : .length(remaining: length))
    }

    static func chunked(limits: HTTPLimits) -> BodyDecoder {
        BodyDecoder(state: .chunked(ChunkedDecoder(limits: limits)))
    }

    static let untilClose = BodyDecoder(state: .untilClose)

    private init(state: State) {
        self.state = state
    }

    var hasEnded: Bool {
        if case .ended = state { return true }
        return false
    }

    mutating func decode(_ buffer: UnsafeRawBufferPointer) throws(HTTPParseError) -> (Output, consumed: Int) {
        switch state {
        case .length(let remaining):
            guard !buffer.isEmpty else { return (.needMore, 0) }
            let take = Int(min(remaining, UInt64(buffer.count)))
            state = remaining == UInt64(take) ? .endPending : .length(remaining: remaining - UInt64(take))
            return (.data(0..<take), take)
        case .chunked(var decoder):
            let (output, consumed) = try decoder.decode(buffer)
            switch output {
            case .needMore:
                state = .chunked(decoder)
                return (.needMore, consumed)
            case .data(let range):
                state = .chunked(decoder)
                return (.data(range), consumed)
            case .end:
                state = .ended
                return (.end, consumed)
            }
        case .untilClose:
            guard !buffer.isEmpty else { return (.needMore, 0) }
            return (.data(0..<buffer.count), buffer.count)
        case .endPending:
            state = .ended
            return (.end, 0)
        case .ended:
            return (.needMore, 0)
        }
    }

    /// The peer closed. True when that ends the body (close-delimited); false when it cuts it short.
    mutating func peerClosed() -> Bool {
        switch state {
        case .untilClose:
            state = .ended
            return true
        case .ended:
            return true
        default:
            return false
        }
    }
}
