import Foundation
import TestSupport
import Testing

@testable import HTTP1

/// llhttp's request suite in its strict mode: where llhttp refuses, authgate refuses; where llhttp accepts,
/// authgate accepts the same number of messages, except for the deliberate differences listed here.
@Suite struct LLHTTPSuiteTests {
    /// Cases llhttp (strict) accepts and authgate refuses on purpose, with the reason.
    static let strictlyRefused: [String: String] = [
        "CONNECT request": "CONNECT (authority-form) is for forward proxies; authgate is a reverse proxy",
        "CONNECT request with CAPS": "CONNECT (authority-form) is for forward proxies; authgate is a reverse proxy",
        "CONNECT with body": "CONNECT (authority-form) is for forward proxies; authgate is a reverse proxy",
        "Underscore in hostname": "CONNECT (authority-form) is for forward proxies; authgate is a reverse proxy",
        "M-SEARCH request": "asterisk-form is only for OPTIONS (RFC 9112 §3.2.4)",
        "SOURCE request with ICE": "only HTTP/1.0 and HTTP/1.1 are spoken",
        "OPTIONS request with RTSP": "only HTTP/1.0 and HTTP/1.1 are spoken",
        "ANNOUNCE request with RTSP": "only HTTP/1.0 and HTTP/1.1 are spoken",
        "No HTTP version": "HTTP/0.9 requests are refused",
        "POST with `chunked` as last transfer-encoding":
            "transfer codings other than a lone chunked are refused (and a fragment is in the target)",
        "POST with `chunked` as last transfer-encoding (multiple headers)":
            "transfer codings other than a lone chunked are refused, as are repeated Transfer-Encoding fields",
        "Host terminated by a query string": "an absolute-form target needs a path; authgate does not invent one",
        "`host:port` terminated by a query string":
            "an absolute-form target needs a path; authgate does not invent one",
        "Fragment in URI": "a fragment is never sent on the wire (RFC 9110 §4.2.4); refusing avoids two readings",
        "`host:port` and basic auth": "userinfo in a request target has no meaning and is refused",
    ]

    /// Cases llhttp refuses because it only knows a fixed list of methods; authgate, like nginx and HAProxy,
    /// forwards any method that is a token.
    static let acceptedMethods: [String: String] = [
        "HTTP protocol and ANNOUNCE method": "any token is a method",
        "Invalid method": "MKCOLA is a token, so a method",
    ]

    static let cases: [LLHTTPCase] = (try? LLHTTPCase.strictRequestCases()) ?? []

    @Test func suiteIsPresent() {
        #expect(Self.cases.count > 120, "llhttp request cases not found under \(TestData.root.path)")
    }

    @Test(arguments: cases)
    func matchesLLHTTPStrictMode(_ testCase: LLHTTPCase) {
        // llhttp does not require Host; authgate's Host rule is tested on its own.
        let limits = HTTPLimits(requireHost: false)
        // llhttp refuses some heads mid-way; authgate judges a head once it is complete, so an open head is
        // finished with an empty line before judging.
        let outcome = decodeAll(testCase.input, limits: limits, completeHeadAtEnd: testCase.expectsError)
        let outcomeByBytes = decodeAll(
            testCase.input, limits: limits, chunkSize: 1, completeHeadAtEnd: testCase.expectsError)
        #expect(
            outcome.completed == outcomeByBytes.completed && outcome.refused == outcomeByBytes.refused,
            "feeding byte by byte changed the outcome")
        if let reason = Self.strictlyRefused[testCase.name] {
            #expect(outcome.refused, "expected refusal: \(reason)")
            return
        }
        if let reason = Self.acceptedMethods[testCase.name] {
            #expect(!outcome.refused, "expected acceptance: \(reason)")
            return
        }
        if testCase.expectsError {
            #expect(outcome.refused, "llhttp refuses this; authgate accepted \(outcome.completed) message(s)")
            #expect(outcome.completed <= testCase.messagesCompleted)
        } else {
            #expect(outcome.error == nil, "llhttp accepts this; authgate refused: \(outcome.error?.description ?? "")")
            #expect(outcome.completed == testCase.messagesCompleted)
        }
    }
}
