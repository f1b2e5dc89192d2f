/// A harness input as the HTTP harnesses read it: a flags byte and a little-endian 16-bit split point in front
/// of the bytes under test, so the fuzzer steers both the options and where the bytes are cut.
public struct FuzzInput {
    public let flags: UInt8
    public let bytes: [UInt8]
    /// Where `bytes` are cut in two for the second reading: 0...bytes.count.
    public let split: Int

    public init(_ data: UnsafeRawPointer, _ size: Int) {
        let raw = UnsafeRawBufferPointer(start: data, count: size)
        flags = raw.count > 0 ? raw[0] : 0
        let selector = raw.count > 2 ? Int(raw[1]) | Int(raw[2]) << 8 : 0
        bytes = raw.count > 3 ? Array(raw[3...]) : []
        split = selector % (bytes.count + 1)
    }

    public func flag(_ bit: Int) -> Bool {
        flags & (1 << UInt8(bit)) != 0
    }

    /// The ways a connection may receive `bytes`, each a list of consecutive reads: all at once, in two reads
    /// cut at `split`, and (when short enough to stay fast) one byte per read. A parser must yield the same
    /// events for each.
    public var readings: [[Range<Int>]] {
        var readings = [[0..<bytes.count], [0..<split, split..<bytes.count]]
        if bytes.count <= 512 { readings.append((0..<bytes.count).map { $0..<($0 + 1) }) }
        return readings
    }

    /// Decodes the bytes once per reading, traps unless every reading gave the same transcript, and returns it.
    @discardableResult
    public func expectSameForEveryReading<Transcript: Equatable>(
        _ decode: ([Range<Int>]) -> Transcript
    ) -> Transcript {
        let transcripts = readings.map(decode)
        for transcript in transcripts.dropFirst() {
            precondition(transcript == transcripts[0], "how the bytes were cut into reads changed what was decoded")
        }
        return transcripts[0]
    }
}

extension Range<Int> {
    /// Whether the range lies within a buffer of `count` bytes.
    public func isWithin(_ count: Int) -> Bool {
        lowerBound >= 0 && upperBound <= count
    }
}
