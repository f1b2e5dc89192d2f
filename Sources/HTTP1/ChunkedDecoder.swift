import Encoding

/// Decodes a chunked request body (RFC 9112 §7.1) byte by byte for its framing and in bulk for its data.
/// Strict: no whitespace around the size, extensions only as `;token[=token|quoted-string]`, CRLF everywhere.
/// Extensions and trailers are validated and then dropped: nothing after the last chunk is forwarded.
struct ChunkedDecoder: Sendable {
    enum Output: Equatable {
        case needMore
        case data(Range<Int>)
        case end
    }

    private enum ExtensionState: Sendable {
        case nameStart, name, valueStart, token, quoted, quotedEscape, afterQuoted
    }

    private enum State: Sendable {
        case size(value: UInt64, digits: Int)
        case sizeExtension(ExtensionState)
        case sizeLineFeed
        case data(remaining: UInt64)
        case dataCarriageReturn
        case dataLineFeed
        case trailerLineStart
        case trailerName(length: Int)
        case trailerValue
        case trailerLineFeed(final: Bool)
        case finished
    }

    private var state: State = .size(value: 0, digits: 0)
    private var chunkSize: UInt64 = 0
    private var lineBytes = 0
    private var trailerBytes = 0
    private var bodyBytes: UInt64 = 0
    private let limits: HTTPLimits

    init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// Decodes from `buffer`; returns what was found and how many bytes were consumed.
    mutating func decode(_ buffer: UnsafeRawBufferPointer) throws(HTTPParseError) -> (Output, Int) {
        var position = 0
        while position < buffer.count {
            if case .data(let remaining) = state {
                let available = UInt64(buffer.count - position)
                let take = Int(min(remaining, available))
                state = remaining == UInt64(take) ? .dataCarriageReturn : .data(remaining: remaining - UInt64(take))
                return (.data(position..<(position + take)), position + take)
            }
            let byte = buffer[position]
            position += 1
            try step(byte)
            if case .finished = state { return (.end, position) }
        }
        return (.needMore, position)
    }

    private mutating func countLineByte() throws(HTTPParseError) {
        lineBytes += 1
        if lineBytes > limits.maxChunkLineBytes { throw HTTPParseError(.chunkLineTooLong) }
    }

    private mutating func countTrailerByte() throws(HTTPParseError) {
        trailerBytes += 1
        if trailerBytes > limits.maxTrailerBytes { throw HTTPParseError(.invalidTrailer) }
    }

    private mutating func step(_ byte: UInt8) throws(HTTPParseError) {
        switch state {
        case .size(let value, let digits):
            try countLineByte()
            if let digit = Hex.value(byte) {
                // 15 hex digits cannot overflow UInt64; leading zeros beyond that are refused too.
                guard digits < 15 else { throw HTTPParseError(.invalidChunk) }
                state = .size(value: value << 4 | UInt64(digit), digits: digits + 1)
            } else if digits > 0 && byte == UInt8(ascii: ";") {
                chunkSize = value
                state = .sizeExtension(.nameStart)
            } else if digits > 0 && byte == ByteClass.cr {
                chunkSize = value
                state = .sizeLineFeed
            } else {
                throw HTTPParseError(.invalidChunk)
            }
        case .sizeExtension(let extensionState):
            try countLineByte()
            if byte == ByteClass.cr {
                switch extensionState {
                case .name, .token, .afterQuoted: state = .sizeLineFeed
                default: throw HTTPParseError(.invalidChunk)
                }
            } else {
                state = .sizeExtension(try stepExtension(extensionState, byte))
            }
        case .sizeLineFeed:
            guard byte == ByteClass.lf else { throw HTTPParseError(.invalidChunk) }
            lineBytes = 0
            if chunkSize == 0 {
                state = .trailerLineStart
            } else {
                bodyBytes += chunkSize
                if limits.maxBodyBytes > 0 && bodyBytes > limits.maxBodyBytes {
                    throw HTTPParseError(.bodyTooLarge)
                }
                state = .data(remaining: chunkSize)
            }
        case .data:
            preconditionFailure("data is consumed in bulk")
        case .dataCarriageReturn:
            guard byte == ByteClass.cr else { throw HTTPParseError(.invalidChunk) }
            state = .dataLineFeed
        case .dataLineFeed:
            guard byte == ByteClass.lf else { throw HTTPParseError(.invalidChunk) }
            state = .size(value: 0, digits: 0)
        case .trailerLineStart:
            try countTrailerByte()
            if byte == ByteClass.cr {
                state = .trailerLineFeed(final: true)
            } else if ByteClass.isToken(byte) {
                state = .trailerName(length: 1)
            } else {
                throw HTTPParseError(.invalidTrailer)
            }
        case .trailerName(let length):
            try countTrailerByte()
            if ByteClass.isToken(byte) {
                state = .trailerName(length: length + 1)
            } else if byte == ByteClass.colon {
                state = .trailerValue
            } else {
                throw HTTPParseError(.invalidTrailer)
            }
        case .trailerValue:
            try countTrailerByte()
            if byte == ByteClass.cr {
                state = .trailerLineFeed(final: false)
            } else if !ByteClass.isFieldValue(byte) {
                throw HTTPParseError(.invalidTrailer)
            }
        case .trailerLineFeed(let final):
            guard byte == ByteClass.lf else { throw HTTPParseError(.invalidTrailer) }
            state = final ? .finished : .trailerLineStart
        case .finished:
            preconditionFailure("decode after the end of the body")
        }
    }

    private func stepExtension(
        _ extensionState: ExtensionState,
        _ byte: UInt8
    ) throws(HTTPParseError) -> ExtensionState {
        let isToken = ByteClass.isToken(byte)
        switch extensionState {
        case .nameStart:
            guard isToken else { throw HTTPParseError(.invalidChunk) }
            return .name
        case .name, .token, .afterQuoted:
            if isToken && extensionState != .afterQuoted { return extensionState }
            if byte == UInt8(ascii: ";") { return .nameStart }
            if byte == UInt8(ascii: "="), extensionState == .name { return .valueStart }
            throw HTTPParseError(.invalidChunk)
        case .valueStart:
            if isToken { return .token }
            if byte == UInt8(ascii: "\"") { return .quoted }
            throw HTTPParseError(.invalidChunk)
        case .quoted:
            if byte == UInt8(ascii: "\"") { return .afterQuoted }
            if byte == UInt8(ascii: "\\") { return .quotedEscape }
            guard ByteClass.isFieldValue(byte) else { throw HTTPParseError(.invalidChunk) }
            return .quoted
        case .quotedEscape:
            guard ByteClass.isFieldValue(byte) else { throw HTTPParseError(.invalidChunk) }
            return .quoted
        }
    }
}
