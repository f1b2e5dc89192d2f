/// Why a request was refused before it reached any handler. Each code maps to exactly one status.
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        case malformedRequestLine
        case invalidMethod
        case invalidTarget
        case unsupportedVersion
        case bareLineFeed
        case bareCarriageReturn
        case invalidHeaderName
        case invalidHeaderValue
        case obsoleteLineFolding
        case missingHost
        case duplicateHost
        case invalidHost
        case invalidContentLength
        case duplicateContentLength
        case contentLengthWithTransferEncoding
        case unsupportedTransferEncoding
        case transferEncodingInHTTP10
        case invalidChunk
        case chunkLineTooLong
        case invalidTrailer
        case unsupportedExpectation
        case targetTooLong
        case headTooLarge
        case tooManyHeaders
        case bodyTooLarge
        case headTimeout
        case malformedStatusLine
        case truncatedResponse
    }

    public let code: Code

    public init(_ code: Code) {
        self.code = code
    }

    /// The status the client receives for this error.
    public var status: HTTPStatus {
        switch code {
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
    public var description: String {
        switch code {
        case .malformedRequestLine: return "malformed request line"
        case .invalidMethod: return "invalid method"
        case .invalidTarget: return "invalid request target"
        case .unsupportedVersion: return "unsupported HTTP version"
        case .bareLineFeed: return "bare LF"
        case .bareCarriageReturn: return "bare CR"
        case .invalidHeaderName: return "invalid header name"
        case .invalidHeaderValue: return "invalid header value"
        case .obsoleteLineFolding: return "obsolete line folding"
        case .missingHost: return "missing Host"
        case .duplicateHost: return "duplicate Host"
        case .invalidHost: return "invalid Host"
        case .invalidContentLength: return "invalid Content-Length"
        case .duplicateContentLength: return "duplicate Content-Length"
        case .contentLengthWithTransferEncoding: return "Content-Length with Transfer-Encoding"
        case .unsupportedTransferEncoding: return "unsupported Transfer-Encoding"
        case .transferEncodingInHTTP10: return "Transfer-Encoding in HTTP/1.0"
        case .invalidChunk: return "invalid chunk"
        case .chunkLineTooLong: return "chunk line too long"
        case .invalidTrailer: return "invalid trailer"
        case .unsupportedExpectation: return "unsupported Expect"
        case .targetTooLong: return "request target too long"
        case .headTooLarge: return "request head too large"
        case .tooManyHeaders: return "too many header fields"
        case .bodyTooLarge: return "body too large"
        case .headTimeout: return "request head timeout"
        case .malformedStatusLine: return "malformed status line"
        case .truncatedResponse: return "response cut short"
        }
    }
}
