// The chunked body decoder (ChunkedDecoder behind BodyDecoder), reached as the server reaches it: a request head
// with `Transfer-Encoding: chunked`, then the input as its body, through RequestDecoder. The input is `FuzzInput`:
// flags (bit 0: the server's default limits, else small ones the fuzzer can reach), a split point, the body.

import FuzzSupport
import HTTP1

private let head = Array("POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let limits =
        input.flag(0)
        ? HTTPLimits()
        : HTTPLimits(maxBodyBytes: 2048, maxChunkLineBytes: 64, maxTrailerBytes: 256)
    let stream = head + input.bytes
    let outcome = input.expectSameForEveryReading { reads in
        decode(stream, in: reads.map { ($0.lowerBound + head.count)..<($0.upperBound + head.count) }, limits: limits)
    }
    // A body the decoder accepted, sent again as one chunk, must decode to the same bytes.
    if case .ended(let body, _) = outcome {
        var encoded = head + Array(String(body.count, radix: 16).utf8) + [13, 10] + body + [13, 10]
        if body.isEmpty { encoded = head }
        encoded += Array("0\r\n\r\n".utf8)
        let again = decode(encoded, in: [head.count..<encoded.count], limits: limits)
        precondition(again == .ended(body: body, consumed: encoded.count), "the decoded body does not encode back")
    }
    return 0
}

enum Outcome: Equatable {
    case ended(body: [UInt8], consumed: Int)
    case refused(body: [UInt8])
    case open(body: [UInt8])
}

/// Decodes `stream` (the head, then the body) read by read as the connection does; the head is in the first read.
private func decode(_ stream: [UInt8], in reads: [Range<Int>], limits: HTTPLimits) -> Outcome {
    var decoder = RequestDecoder(limits: limits)
    var pending = Array(stream[0..<head.count])
    var body: [UInt8] = []
    var consumedTotal = 0
    var events = 0
    let budget = 2 * stream.count + reads.count + 8
    for read in reads {
        pending += stream[read]
        var offset = 0
        let ended = pending.withUnsafeBytes { buffer -> Bool? in
            while true {
                events += 1
                precondition(events <= budget, "decoding makes no progress")
                let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                let event: RequestDecoder.Event
                let consumed: Int
                do {
                    (event, consumed) = try decoder.decode(rest)
                } catch {
                    return false
                }
                precondition(consumed >= 0 && consumed <= rest.count, "consumed count out of bounds")
                offset += consumed
                switch event {
                case .needMore:
                    var probe = decoder
                    let again = Result { () throws(HTTPParseError) in
                        try probe.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                    }
                    guard case .success((.needMore, 0)) = again else { preconditionFailure("needMore left an event") }
                    return nil
                case .head(let parsed):
                    precondition(parsed.framing == .chunked && offset == head.count, "the fixed head misread")
                case .body(let range):
                    precondition(consumed > 0 && !range.isEmpty && range.isWithin(consumed), "body range out of bounds")
                    body += rest[range]
                    precondition(limits.maxBodyBytes == 0 || body.count <= limits.maxBodyBytes, "body over limit")
                case .end:
                    precondition(decoder.hasEnded, "an end, but the decoder has not ended")
                    return true
                }
            }
        }
        consumedTotal += offset
        pending.removeFirst(offset)
        switch ended {
        case true?: return .ended(body: body, consumed: consumedTotal)
        case false?: return .refused(body: body)
        case nil: continue
        }
    }
    return .open(body: body)
}

FuzzDriver.run(fuzz)
