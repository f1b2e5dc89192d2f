import Foundation

@testable import HTTP1

/// Feeds bytes to a RequestDecoder as a connection would, collecting what it yields.
struct DecoderOutcome {
    var heads: [RequestHead] = []
    var bodies: [[UInt8]] = []
    var completed = 0
    var error: HTTPParseError?
    /// Bytes came after a request that closes the connection: a server reads none of them.
    var bytesAfterClose = false

    var refused: Bool { error != nil || bytesAfterClose }
}

func decodeAll(
    _ input: [UInt8],
    limits: HTTPLimits = HTTPLimits(),
    chunkSize: Int = .max,
    completeHeadAtEnd: Bool = false
) -> DecoderOutcome {
    var input = input
    var completeHeadAtEnd = completeHeadAtEnd
    var decoder = RequestDecoder(limits: limits)
    var outcome = DecoderOutcome()
    var buffer: [UInt8] = []
    var fed = 0
    while true {
        // Feed in pieces to prove the decoder does not depend on how bytes arrive.
        if fed < input.count {
            let next = fed + min(input.count - fed, chunkSize)
            buffer += input[fed..<next]
            fed = next
        }
        var progressed = true
        while progressed {
            progressed = false
            do {
                let (event, consumed) = try buffer.withUnsafeBytes { raw in
                    let result = Result { () throws(HTTPParseError) in try decoder.decode(raw) }
                    return try result.get()
                }
                switch event {
                case .needMore:
                    break
                case .head(let head):
                    outcome.heads.append(head)
                    outcome.bodies.append([])
                    progressed = true
                case .body(let range):
                    outcome.bodies[outcome.bodies.count - 1] += buffer[range]
                    progressed = true
                case .end:
                    outcome.completed += 1
                    decoder.startNextRequest()
                    progressed = true
                    if outcome.heads.last?.keepAlive == false {
                        outcome.bytesAfterClose = buffer.count > consumed || fed < input.count
                        return outcome
                    }
                }
                buffer.removeFirst(consumed)
                if consumed > 0 { progressed = true }
            } catch {
                outcome.error = error as? HTTPParseError
                return outcome
            }
        }
        if fed >= input.count {
            // A head still open at the end: finish it with an empty line to see how it would be judged.
            if completeHeadAtEnd && decoder.isReadingHead && !buffer.isEmpty {
                input += [13, 10, 13, 10]
                completeHeadAtEnd = false
                continue
            }
            return outcome
        }
    }
}

extension String {
    /// Request text written with "\n" line ends, sent with CRLF.
    var crlf: [UInt8] { Array(replacingOccurrences(of: "\n", with: "\r\n").utf8) }
}
