import Foundation
import TestSupport
import Testing

@testable import HTTP1

struct ResponseOutcome {
    var heads: [ResponseHead] = []
    var body: [UInt8] = []
    var completed = 0
    var error: HTTPParseError?
    /// Bytes came after an answer that closes the connection: the proxy reads none of them.
    var bytesAfterClose = false

    var refused: Bool { error != nil || bytesAfterClose }
}

/// Feeds an upstream's bytes to a ResponseDecoder, answering requests of the given kind one after another.
func decodeResponses(
    _ input: [UInt8],
    chunkSize: Int = .max,
    toHead: Bool = false,
    closeAtEnd: Bool = false,
    completeHeadAtEnd: Bool = false
) -> ResponseOutcome {
    var input = input
    var completeHeadAtEnd = completeHeadAtEnd
    var decoder = ResponseDecoder(limits: HTTPLimits(maxBodyBytes: 0))
    decoder.expectResponse(toHead: toHead)
    var outcome = ResponseOutcome()
    var buffer: [UInt8] = []
    var fed = 0
    do {
        while true {
            if fed < input.count {
                let next = fed + min(input.count - fed, chunkSize)
                buffer += input[fed..<next]
                fed = next
            }
            var progressed = true
            while progressed {
                progressed = false
                let (event, consumed) = try buffer.withUnsafeBytes { raw in
                    try Result { () throws(HTTPParseError) in try decoder.decode(raw) }.get()
                }
                switch event {
                case .needMore: break
                case .head(let head):
                    outcome.heads.append(head)
                    if head.isInformational { outcome.completed += 1 }
                    progressed = true
                case .body(let range):
                    outcome.body += buffer[range]
                    progressed = true
                case .end:
                    outcome.completed += 1
                    decoder.expectResponse(toHead: toHead)
                    progressed = true
                    if outcome.heads.last?.keepAlive == false {
                        outcome.bytesAfterClose = buffer.count > consumed || fed < input.count
                        return outcome
                    }
                }
                buffer.removeFirst(consumed)
                if consumed > 0 { progressed = true }
            }
            if fed >= input.count {
                if completeHeadAtEnd && !buffer.isEmpty && outcome.heads.isEmpty {
                    input += [13, 10, 13, 10]
                    completeHeadAtEnd = false
                    continue
                }
                if closeAtEnd, case .end = try decoder.peerClosed() { outcome.completed += 1 }
                return outcome
            }
        }
    } catch {
        outcome.error = error as? HTTPParseError
        return outcome
    }
}

@Suite struct ResponseDecoderTests {
    static let cases: [LLHTTPCase] = (try? LLHTTPCase.strictResponseCases()) ?? []

    /// Answers llhttp (strict) accepts and authgate refuses on purpose: it relays only what it can frame one way.
    static let strictlyRefused: [String: String] = [
        "HTTP 101 response with Upgrade and Content-Length header": "authgate never asks to switch protocols",
        "HTTP 101 response with Upgrade and Transfer-Encoding header": "authgate never asks to switch protocols",
        "RTSP response": "only HTTP/1.0 and HTTP/1.1 are spoken",
        "ICE response": "only HTTP/1.0 and HTTP/1.1 are spoken",
        "HTTP version 0.9": "only HTTP/1.0 and HTTP/1.1 are spoken",
        "`chunked` before other transfer-encoding": "a transfer coding other than a lone chunked cannot be decoded",
        "multiple transfer-encoding where chunked is not the last one":
            "a transfer coding other than a lone chunked cannot be decoded",
        "`chunkedchunked` transfer-encoding does not enable chunked enconding":
            "a transfer coding other than a lone chunked cannot be decoded",
    ]

    @Test func suiteIsPresent() {
        #expect(Self.cases.count > 60)
    }

    @Test(arguments: cases)
    func matchesLLHTTPStrictMode(_ testCase: LLHTTPCase) {
        // As for requests: a head still open at the end is finished with an empty line before judging.
        let whole = decodeResponses(testCase.input, completeHeadAtEnd: testCase.expectsError)
        let bytewise = decodeResponses(testCase.input, chunkSize: 1, completeHeadAtEnd: testCase.expectsError)
        #expect(whole.completed == bytewise.completed && whole.refused == bytewise.refused)
        if let reason = Self.strictlyRefused[testCase.name] {
            #expect(whole.refused, "expected refusal: \(reason)")
            return
        }
        if testCase.expectsError {
            #expect(whole.refused, "llhttp refuses this; authgate accepted \(whole.completed) message(s)")
        } else {
            #expect(whole.error == nil, "llhttp accepts this; authgate refused: \(whole.error?.description ?? "")")
            #expect(whole.completed == testCase.messagesCompleted)
        }
    }
}

@Suite struct ResponseFramingTests {
    private func text(_ response: String) -> [UInt8] { response.crlf }

    @Test func contentLengthChunkedAndCloseDelimitedBodies() {
        let length = decodeResponses(text("HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"))
        #expect(length.completed == 1 && length.body == Array("hello".utf8) && length.heads[0].keepAlive)
        let chunked = decodeResponses(
            text("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n"), chunkSize: 3)
        #expect(chunked.completed == 1 && chunked.body == Array("hello".utf8))
        let untilClose = decodeResponses(text("HTTP/1.1 200 OK\n\nhello world"), closeAtEnd: true)
        #expect(
            untilClose.completed == 1 && untilClose.body == Array("hello world".utf8) && !untilClose.heads[0].keepAlive)
    }

    @Test(arguments: [
        "HTTP/1.1 204 No Content\nContent-Length: 5\n\n", "HTTP/1.1 304 Not Modified\nTransfer-Encoding: chunked\n\n",
    ])
    func bodilessStatusesHaveNoBody(response: String) {
        let outcome = decodeResponses(text(response))
        #expect(outcome.completed == 1 && outcome.body.isEmpty && outcome.error == nil)
    }

    @Test func answerToHeadHasNoBodyWhateverItSays() {
        let outcome = decodeResponses(text("HTTP/1.1 200 OK\nContent-Length: 100\n\n"), toHead: true)
        #expect(outcome.completed == 1 && outcome.body.isEmpty)
    }

    @Test func informationalHeadsPrecedeTheFinalOne() {
        let outcome = decodeResponses(
            text(
                "HTTP/1.1 100 Continue\n\nHTTP/1.1 103 Early Hints\nLink: </a>\n\nHTTP/1.1 200 OK\nContent-Length: 2\n\nok"
            ))
        #expect(outcome.heads.map(\.status) == [100, 103, 200])
        #expect(outcome.body == Array("ok".utf8))
    }

    @Test(
        arguments: [
            (
                "HTTP/1.1 200 OK\nContent-Length: 3\nTransfer-Encoding: chunked\n\n",
                HTTPParseError.Code.contentLengthWithTransferEncoding
            ),
            ("HTTP/1.1 200 OK\nContent-Length: 3\nContent-Length: 4\n\n", .duplicateContentLength),
            ("HTTP/1.1 200 OK\nTransfer-Encoding: gzip\n\n", .unsupportedTransferEncoding),
            ("HTTP/1.1 200 OK\nX: a\n b\n\n", .obsoleteLineFolding),
            ("HTTP/1.1 20 OK\n\n", .malformedStatusLine),
            ("HTTP/2 200 OK\n\n", .malformedStatusLine),
            ("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n", .malformedStatusLine),
            ("HTTP/1.1 200 OK\nBad Name: x\n\n", .invalidHeaderName),
        ] as [(String, HTTPParseError.Code)])
    func ambiguousAnswersAreRefused(response: String, code: HTTPParseError.Code) {
        #expect(decodeResponses(text(response)).error?.code == code)
    }

    @Test func equalDuplicateContentLengthsAreRefusedToo() {
        let outcome = decodeResponses(text("HTTP/1.1 200 OK\nContent-Length: 2\nContent-Length: 2\n\nok"))
        #expect(outcome.error?.code == .duplicateContentLength)
    }

    @Test func answerCutShortIsAnError() {
        var decoder = ResponseDecoder(limits: HTTPLimits(maxBodyBytes: 0))
        decoder.expectResponse(toHead: false)
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8)
        _ = try? bytes.withUnsafeBytes { raw in
            try Result { () throws(HTTPParseError) in try decoder.decode(raw) }.get()
        }
        #expect(throws: HTTPParseError.self) { try decoder.peerClosed() }
    }
}
