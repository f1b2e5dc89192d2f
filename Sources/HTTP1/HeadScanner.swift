/// Finds where a message head ends, line by line and across reads: every line must end in CRLF (a bare
/// LF is refused), empty lines before the start line are skipped (RFC 9112 §2.2), and the head is bounded.
struct HeadScanner: Sendable {
    enum Outcome {
        /// Consume `skipped` bytes (empty lines) and read more.
        case needMore(skipped: Int)
        /// The head is `buffer[skipped..<skipped + length]`.
        case complete(skipped: Int, length: Int)
    }

    private(set) var scanned = 0
    private var lineStart = 0

    /// Scans `buffer` (the unconsumed bytes; the head starts at its beginning). A head longer than
    /// `maxBytes` fails with `tooLarge`, or with `startLineTooLong` while its first line is not finished; a first
    /// line longer than `startLineLimit` (counting its CR) fails with `startLineTooLong`, finished or not.
    mutating func scan(
        _ buffer: UnsafeRawBufferPointer,
        maxBytes: Int,
        startLineLimit: Int,
        startLineTooLong: HTTPParseError.Code,
        tooLarge: HTTPParseError.Code
    ) throws(HTTPParseError) -> Outcome {
        var base = 0
        if scanned == 0 {
            while base + 1 < buffer.count, buffer[base] == ByteClass.cr, buffer[base + 1] == ByteClass.lf {
                base += 2
            }
            if base < buffer.count, buffer[base] == ByteClass.lf { throw HTTPParseError(.bareLineFeed) }
            // A lone CR may start one more empty line: wait for the next byte before scanning.
            if base + 1 == buffer.count, buffer[base] == ByteClass.cr { return .needMore(skipped: base) }
        }
        var position = base + scanned
        var lineStart = base + self.lineStart
        while let lineFeedIndex = WordScan.firstIndex(of: ByteClass.lf, in: buffer, from: position) {
            position = lineFeedIndex + 1
            guard lineFeedIndex > lineStart, buffer[lineFeedIndex - 1] == ByteClass.cr else {
                throw HTTPParseError(.bareLineFeed)
            }
            if position - base > maxBytes {
                throw HTTPParseError(lineStart == base ? startLineTooLong : tooLarge)
            }
            // The start line is bounded up to its CR, as when a read ends inside it, whichever way it arrives.
            if lineStart == base && lineFeedIndex - base > startLineLimit { throw HTTPParseError(startLineTooLong) }
            if lineFeedIndex - 1 == lineStart {
                self = HeadScanner()
                return .complete(skipped: base, length: position - base)
            }
            lineStart = position
        }
        position = buffer.count
        if position - base > maxBytes {
            throw HTTPParseError(lineStart == base ? startLineTooLong : tooLarge)
        }
        if lineStart == base && position - base > startLineLimit { throw HTTPParseError(startLineTooLong) }
        scanned = position - base
        self.lineStart = lineStart - base
        return .needMore(skipped: base)
    }
}
