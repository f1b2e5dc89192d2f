import Testing

@testable import HTTP1

@Suite struct RequestDecoderTests {
    struct Refusal: CustomStringConvertible, Sendable {
        let name: String
        let request: String
        let code: HTTPParseError.Code
        var description: String { name }
    }

    /// Framing ambiguities and malformed heads, after swift-nio's HTTPDecoderTest checklist and RFC 9112.
    static let refusals: [Refusal] = [
        Refusal(
            name: "Content-Length with Transfer-Encoding",
            request: "POST / HTTP/1.1\nHost: a\nContent-Length: 3\nTransfer-Encoding: chunked\n\n0\n\n",
            code: .contentLengthWithTransferEncoding),
        Refusal(
            name: "Transfer-Encoding before Content-Length",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nContent-Length: 3\n\n0\n\n",
            code: .contentLengthWithTransferEncoding),
        Refusal(
            name: "two different Content-Lengths",
            request: "POST / HTTP/1.1\nHost: a\nContent-Length: 3\nContent-Length: 4\n\nabcd",
            code: .duplicateContentLength),
        Refusal(
            name: "two equal Content-Lengths",
            request: "POST / HTTP/1.1\nHost: a\nContent-Length: 3\nContent-Length: 3\n\nabc",
            code: .duplicateContentLength),
        Refusal(
            name: "Content-Length list", request: "POST / HTTP/1.1\nHost: a\nContent-Length: 3, 3\n\nabc",
            code: .invalidContentLength),
        Refusal(
            name: "signed Content-Length", request: "POST / HTTP/1.1\nHost: a\nContent-Length: +3\n\nabc",
            code: .invalidContentLength),
        Refusal(
            name: "hex Content-Length", request: "POST / HTTP/1.1\nHost: a\nContent-Length: 0x3\n\nabc",
            code: .invalidContentLength),
        Refusal(
            name: "Content-Length overflow",
            request: "POST / HTTP/1.1\nHost: a\nContent-Length: 99999999999999999999\n\n",
            code: .invalidContentLength),
        Refusal(
            name: "Transfer-Encoding gzip, chunked",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, chunked\n\n0\n\n",
            code: .unsupportedTransferEncoding),
        Refusal(
            name: "Transfer-Encoding chunked, identity",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked, identity\n\n",
            code: .unsupportedTransferEncoding),
        Refusal(
            name: "Transfer-Encoding twice",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n\n0\n\n",
            code: .unsupportedTransferEncoding),
        Refusal(
            name: "Transfer-Encoding xchunked", request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: xchunked\n\n",
            code: .unsupportedTransferEncoding),
        Refusal(
            name: "Transfer-Encoding in HTTP/1.0", request: "POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n0\n\n",
            code: .transferEncodingInHTTP10),
        Refusal(
            name: "space before colon", request: "GET / HTTP/1.1\nHost: a\nTransfer-Encoding : chunked\n\n",
            code: .invalidHeaderName),
        Refusal(
            name: "tab before colon", request: "GET / HTTP/1.1\nHost: a\nContent-Length\t: 1\n\nx",
            code: .invalidHeaderName),
        Refusal(
            name: "obsolete line folding", request: "GET / HTTP/1.1\nHost: a\nX-A: b\n c\n\n",
            code: .obsoleteLineFolding),
        Refusal(name: "folding as first field", request: "GET / HTTP/1.1\n Host: a\n\n", code: .obsoleteLineFolding),
        Refusal(name: "NUL in value", request: "GET / HTTP/1.1\nHost: a\nX-A: b\u{0}c\n\n", code: .invalidHeaderValue),
        Refusal(name: "DEL in value", request: "GET / HTTP/1.1\nHost: a\nX-A: b\u{7F}c\n\n", code: .invalidHeaderValue),
        Refusal(name: "empty header name", request: "GET / HTTP/1.1\nHost: a\n: b\n\n", code: .invalidHeaderName),
        Refusal(name: "header without colon", request: "GET / HTTP/1.1\nHost: a\nJunk\n\n", code: .invalidHeaderName),
        Refusal(name: "missing Host on HTTP/1.1", request: "GET / HTTP/1.1\nX-A: b\n\n", code: .missingHost),
        Refusal(name: "two Host fields", request: "GET / HTTP/1.1\nHost: a\nHost: b\n\n", code: .duplicateHost),
        Refusal(name: "Host with a slash", request: "GET / HTTP/1.1\nHost: a/b\n\n", code: .invalidHost),
        Refusal(name: "Host with userinfo", request: "GET / HTTP/1.1\nHost: u@a\n\n", code: .invalidHost),
        Refusal(name: "empty Host", request: "GET / HTTP/1.1\nHost:\n\n", code: .invalidHost),
        Refusal(name: "HTTP/0.9", request: "GET /\n\n", code: .malformedRequestLine),
        Refusal(name: "HTTP/2.0 in a request line", request: "GET / HTTP/2.0\nHost: a\n\n", code: .unsupportedVersion),
        Refusal(name: "HTTP/1.2", request: "GET / HTTP/1.2\nHost: a\n\n", code: .unsupportedVersion),
        Refusal(name: "lowercase http version", request: "GET / http/1.1\nHost: a\n\n", code: .malformedRequestLine),
        Refusal(name: "two spaces after method", request: "GET  / HTTP/1.1\nHost: a\n\n", code: .invalidTarget),
        Refusal(name: "space after version", request: "GET / HTTP/1.1 \nHost: a\n\n", code: .malformedRequestLine),
        Refusal(name: "non-ASCII in target", request: "GET /\u{E9} HTTP/1.1\nHost: a\n\n", code: .invalidTarget),
        Refusal(name: "fragment in target", request: "GET /a#b HTTP/1.1\nHost: a\n\n", code: .invalidTarget),
        Refusal(name: "relative target", request: "GET a/b HTTP/1.1\nHost: a\n\n", code: .invalidTarget),
        Refusal(name: "asterisk for GET", request: "GET * HTTP/1.1\nHost: a\n\n", code: .invalidTarget),
        Refusal(name: "CONNECT authority-form", request: "CONNECT a:443 HTTP/1.1\nHost: a\n\n", code: .invalidTarget),
        Refusal(
            name: "absolute-form with userinfo", request: "GET http://u@a/ HTTP/1.1\nHost: a\n\n", code: .invalidTarget),
        Refusal(
            name: "unknown expectation", request: "GET / HTTP/1.1\nHost: a\nExpect: 200-ok\n\n",
            code: .unsupportedExpectation),
        Refusal(
            name: "chunk size with space",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n3 \nabc\n0\n\n",
            code: .invalidChunk),
        Refusal(
            name: "chunk size negative",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n-3\nabc\n0\n\n",
            code: .invalidChunk),
        Refusal(
            name: "chunk data longer than its size",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n3\nabcd\n0\n\n", code: .invalidChunk),
        Refusal(
            name: "chunk size overflow",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n10000000000000000\nx\n0\n\n",
            code: .invalidChunk),
        Refusal(
            name: "chunk extension with space",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n3; a=b\nabc\n0\n\n", code: .invalidChunk),
        Refusal(
            name: "trailer with bad name",
            request: "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n0\nBad Name: x\n\n", code: .invalidTrailer
        ),
    ]

    @Test(arguments: refusals)
    func refusesAmbiguousOrMalformedRequests(_ refusal: Refusal) {
        let outcome = decodeAll(refusal.request.crlf)
        #expect(outcome.error?.code == refusal.code)
        #expect(outcome.completed == 0)
        let byteByByte = decodeAll(refusal.request.crlf, chunkSize: 1)
        #expect(byteByByte.error?.code == refusal.code)
    }

    @Test func bareLineFeedIsRefused() {
        #expect(decodeAll(Array("GET / HTTP/1.1\nHost: a\n\n".utf8)).error?.code == .bareLineFeed)
        #expect(decodeAll(Array("GET / HTTP/1.1\r\nHost: a\n\r\n".utf8)).error?.code == .bareLineFeed)
    }

    @Test func bareCarriageReturnIsRefused() {
        #expect(decodeAll(Array("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n".utf8)).error?.code == .bareCarriageReturn)
        #expect(decodeAll(Array("GET / HTTP/1.1\r\nHost: a\r\n\rX: b\r\n\r\n".utf8)).error != nil)
    }

    @Test func chunkedBodyWithExtensionsAndTrailersIsDecoded() {
        let request =
            "POST /u HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
            + "3;name=value;flag\nabc\n2;q=\"x;y\\\"z\"\nde\n0\nX-Trailer: t\n\n"
        for chunkSize in [Int.max, 1, 2, 7] {
            let outcome = decodeAll(request.crlf, chunkSize: chunkSize)
            #expect(outcome.error == nil)
            #expect(outcome.completed == 1)
            #expect(outcome.bodies.first == Array("abcde".utf8))
        }
    }

    @Test func contentLengthBodyIsDecodedAndPipelinedRequestsFollow() {
        let request = "POST /a HTTP/1.1\nHost: a\nContent-Length: 5\n\nhelloGET /b HTTP/1.1\nHost: a\n\n"
        let outcome = decodeAll(request.crlf)
        #expect(outcome.completed == 2)
        #expect(outcome.bodies == [Array("hello".utf8), []])
        #expect(outcome.heads.map(\.target) == ["/a", "/b"])
    }

    @Test func headFieldsAreTrimmedAndFound() throws {
        let outcome = decodeAll("GET /p?q=1 HTTP/1.1\nHost: example.com:8080\nX-Thing: \t value \t\n\n".crlf)
        let head = try #require(outcome.heads.first)
        #expect(head.method == "GET")
        #expect(head.target == "/p?q=1")
        #expect(head.path == "/p")
        #expect(head.authority == "example.com:8080")
        #expect(head.firstValue("x-thing") == "value")
        #expect(head.keepAlive)
    }

    /// Values long enough for the parser's eight-byte steps, with spaces inside, at the end of a step and after it.
    @Test(arguments: [
        "abcdefgh", "abcdefg h", "abcdefg ", "abcdefgh        ", "a       ", "ab cd ef gh ij kl mn op", "x",
    ])
    func longValuesKeepInnerSpacesAndLoseTrailingOnes(_ value: String) throws {
        let outcome = decodeAll("GET / HTTP/1.1\nHost: a\nX-Long: \(value)\n\n".crlf)
        let head = try #require(outcome.heads.first)
        let trimmed = String(value.reversed().drop { $0 == " " }.reversed())
        #expect(head.firstValue("x-long") == trimmed)
    }

    @Test func absoluteFormTargetUsesItsAuthority() throws {
        let outcome = decodeAll("GET http://upstream.example/x?y HTTP/1.1\nHost: other\n\n".crlf)
        let head = try #require(outcome.heads.first)
        #expect(head.target == "/x?y")
        #expect(head.authority == "upstream.example")
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\nHost: a\n\n", true),
        ("GET / HTTP/1.1\nHost: a\nConnection: close\n\n", false),
        ("GET / HTTP/1.1\nHost: a\nConnection: keep-alive, Close\n\n", false),
        ("GET / HTTP/1.0\n\n", false),
        ("GET / HTTP/1.0\nConnection: keep-alive\n\n", true),
        ("GET / HTTP/1.0\nConnection: Keep-Alive\n\n", true),
    ])
    func keepAliveFollowsTheVersionRules(request: String, keepAlive: Bool) throws {
        let head = try #require(decodeAll(request.crlf).heads.first)
        #expect(head.keepAlive == keepAlive)
    }

    @Test func expectContinueIsIgnoredOnHTTP10() throws {
        let head11 = try #require(
            decodeAll("POST / HTTP/1.1\nHost: a\nExpect: 100-Continue\nContent-Length: 1\n\n".crlf).heads.first)
        #expect(head11.expectsContinue)
        let head10 = try #require(
            decodeAll("POST / HTTP/1.0\nExpect: 100-continue\nContent-Length: 1\n\n".crlf).heads.first)
        #expect(!head10.expectsContinue)
    }

    @Test func limitsGiveTheirStatuses() {
        let limits = HTTPLimits(maxHeadBytes: 1024, maxTargetBytes: 100, maxHeaderFields: 5, maxBodyBytes: 10)
        let longTarget = "GET /" + String(repeating: "a", count: 200) + " HTTP/1.1\nHost: a\n\n"
        #expect(decodeAll(longTarget.crlf, limits: limits).error?.status == .uriTooLong)
        let endlessTarget = "GET /" + String(repeating: "a", count: 2000)
        #expect(decodeAll(Array(endlessTarget.utf8), limits: limits).error?.status == .uriTooLong)
        let bigHead = "GET / HTTP/1.1\nHost: a\nX-A: " + String(repeating: "b", count: 2000) + "\n\n"
        #expect(decodeAll(bigHead.crlf, limits: limits).error?.status == .headersTooLarge)
        let manyFields = "GET / HTTP/1.1\nHost: a\n" + (0..<6).map { "X-\($0): v\n" }.joined() + "\n"
        #expect(decodeAll(manyFields.crlf, limits: limits).error?.status == .headersTooLarge)
        let bigBody = "POST / HTTP/1.1\nHost: a\nContent-Length: 11\n\nhello world"
        #expect(decodeAll(bigBody.crlf, limits: limits).error?.status == .contentTooLarge)
        let bigChunked = "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n6\nhello \n5\nworld\n0\n\n"
        #expect(decodeAll(bigChunked.crlf, limits: limits).error?.status == .contentTooLarge)
        let longChunkLine =
            "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1;" + String(repeating: "x", count: 5000)
        #expect(decodeAll(longChunkLine.crlf).error?.code == .chunkLineTooLong)
    }

    /// Found by the FuzzRequestHead harness: a request line over its bound (maxTargetBytes + 64 bytes, counting its
    /// CR) but with a short target was refused when it came in several reads, and passed when it came in one.
    @Test func longRequestLineIsRefusedHoweverItArrives() {
        let limits = HTTPLimits(maxTargetBytes: 100)
        let request = { (lineLength: Int) in
            (String(repeating: "M", count: lineLength - 11) + " / HTTP/1.1\nHost: a\n\n").crlf
        }
        for chunkSize in [Int.max, 1] {
            #expect(decodeAll(request(163), limits: limits, chunkSize: chunkSize).error == nil)
            #expect(decodeAll(request(164), limits: limits, chunkSize: chunkSize).error?.code == .targetTooLong)
            #expect(decodeAll(request(300), limits: limits, chunkSize: chunkSize).error?.code == .targetTooLong)
        }
    }

    @Test func emptyLinesBeforeARequestAreSkipped() {
        let outcome = decodeAll("\n\nGET / HTTP/1.1\nHost: a\n\n".crlf, chunkSize: 1)
        #expect(outcome.error == nil)
        #expect(outcome.completed == 1)
    }
}
