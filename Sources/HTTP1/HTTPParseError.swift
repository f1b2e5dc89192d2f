/// Why a request was refused before it reached any handler. Each code maps to exactly one status.
package struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A struct, not an enum, so that a new code breaks no caller's switch.
    package struct Code: Sendable, Hashable {
        /// Each code's reason for the access log; never request bytes.
        fileprivate enum Base: String, Sendable {
            case malformedRequestLine = "malformed request line"
            case invalidMethod = "invalid method"
            case invalidTarget = "invalid request target"
            case unsupportedVersion = "unsupported HTTP version"
            case bareLineFeed = "bare LF"
            case bareCarriageReturn = "bare CR"
            case invalidHeaderName = "invalid header name"
            case invalidHeaderValue = "invalid header value"
            case obsoleteLineFolding = "obsolete line folding"
            case missingHost = "missing Host"
            case duplicateHost = "duplicate Host"
            case invalidHost = "invalid Host"
            case invalidContentLength = "invalid Content-Length"
            case duplicateContentLength = "duplicate Content-Length"
            case contentLengthWithTransferEncoding = "Content-Length with Transfer-Encoding"
            case unsupportedTransferEncoding = "unsupported Transfer-Encoding"
            case transferEncodingInHTTP10 = "Transfer-Encoding in HTTP/1.0"
            case invalidChunk = "invalid chunk"
            case chunkLineTooLong = "chunk line too long"
            case invalidTrailer = "invalid trailer"
            case unsupportedExpectation = "unsupported Expect"
            case targetTooLong = "request target too long"
            case headTooLarge = "request head too large"
            case tooManyHeaders = "too many header fields"
            case bodyTooLarge = "body too large"
            case headTimeout = "request head timeout"
            case malformedStatusLine = "malformed status line"
            case truncatedResponse = "response cut short"
        }

        fileprivate let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        package static let malformedRequestLine = Code(.malformedRequestLine)
        package static let invalidMethod = Code(.invalidMethod)
        package static let invalidTarget = Code(.invalidTarget)
        package static let unsupportedVersion = Code(.unsupportedVersion)
        package static let bareLineFeed = Code(.bareLineFeed)
        package static let bareCarriageReturn = Code(.bareCarriageReturn)
        package static let invalidHeaderName = Code(.invalidHeaderName)
        package static let invalidHeaderValue = Code(.invalidHeaderValue)
        package static let obsoleteLineFolding = Code(.obsoleteLineFolding)
        package static let missingHost = Code(.missingHost)
        package static let duplicateHost = Code(.duplicateHost)
        package static let invalidHost = Code(.invalidHost)
        package static let invalidContentLength = Code(.invalidContentLength)
        package static let duplicateContentLength = Code(.duplicateContentLength)
        package static let contentLengthWithTransferEncoding = Code(.contentLengthWithTransferEncoding)
        package static let unsupportedTransferEncoding = Code(.unsupportedTransferEncoding)
        package static let transferEncodingInHTTP10 = Code(.transferEncodingInHTTP10)
        package static let invalidChunk = Code(.invalidChunk)
        package static let chunkLineTooLong = Code(.chunkLineTooLong)
        package static let invalidTrailer = Code(.invalidTrailer)
        package static let unsupportedExpectation = Code(.unsupportedExpectation)
        package static let targetTooLong = Code(.targetTooLong)
        package static let headTooLarge = Code(.headTooLarge)
        package static let tooManyHeaders = Code(.tooManyHeaders)
        package static let bodyTooLarge = Code(.bodyTooLarge)
        package static let headTimeout = Code(.headTimeout)
        package static let malformedStatusLine = Code(.malformedStatusLine)
        package static let truncatedResponse = Code(.truncatedResponse)
    }

    package let code: Code

    package init(_ code: Code) {
        self.code = code
    }

    /// The status the client receives for this error.
    package var status: HTTPStatus {
        switch code.base {
        case .unsupportedVersion: return .versionNotSupported
        case .unsupportedExpectation: return .expectationFailed
        case .targetTooLong: return .uriTooLong
        case .headTooLarge, .tooManyHeaders: return .headersTooLarge
        case .bodyTooLarge: return .contentTooLarge
        case .headTimeout: return .requestTimeout
        default: return .badRequest
        }
    }

    /// A short reason fit for the access log; never contains request bytes.
    package var description: String { code.base.rawValue }
}
