/// Why a request was refused before it reached any handler. Each code maps to exactly one status.
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A struct, not an enum, so that a new code breaks no caller's switch.
    public struct Code: Sendable, Hashable {
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

        public static let malformedRequestLine = Code(.malformedRequestLine)
        public static let invalidMethod = Code(.invalidMethod)
        public static let invalidTarget = Code(.invalidTarget)
        public static let unsupportedVersion = Code(.unsupportedVersion)
        public static let bareLineFeed = Code(.bareLineFeed)
        public static let bareCarriageReturn = Code(.bareCarriageReturn)
        public static let invalidHeaderName = Code(.invalidHeaderName)
        public static let invalidHeaderValue = Code(.invalidHeaderValue)
        public static let obsoleteLineFolding = Code(.obsoleteLineFolding)
        public static let missingHost = Code(.missingHost)
        public static let duplicateHost = Code(.duplicateHost)
        public static let invalidHost = Code(.invalidHost)
        public static let invalidContentLength = Code(.invalidContentLength)
        public static let duplicateContentLength = Code(.duplicateContentLength)
        public static let contentLengthWithTransferEncoding = Code(.contentLengthWithTransferEncoding)
        public static let unsupportedTransferEncoding = Code(.unsupportedTransferEncoding)
        public static let transferEncodingInHTTP10 = Code(.transferEncodingInHTTP10)
        public static let invalidChunk = Code(.invalidChunk)
        public static let chunkLineTooLong = Code(.chunkLineTooLong)
        public static let invalidTrailer = Code(.invalidTrailer)
        public static let unsupportedExpectation = Code(.unsupportedExpectation)
        public static let targetTooLong = Code(.targetTooLong)
        public static let headTooLarge = Code(.headTooLarge)
        public static let tooManyHeaders = Code(.tooManyHeaders)
        public static let bodyTooLarge = Code(.bodyTooLarge)
        public static let headTimeout = Code(.headTimeout)
        public static let malformedStatusLine = Code(.malformedStatusLine)
        public static let truncatedResponse = Code(.truncatedResponse)
    }

    public let code: Code

    public init(_ code: Code) {
        self.code = code
    }

    /// The status the client receives for this error.
    public var status: HTTPStatus {
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
    public var description: String { code.base.rawValue }
}
