/// Every bound the parser enforces, in one place.
package struct HTTPLimits: Sendable, Hashable {
    /// Request line plus header fields plus the blank line (431 beyond).
    package var maxHeadBytes: Int
    /// Request-target length (414 beyond).
    package var maxTargetBytes: Int
    /// Number of header fields (431 beyond).
    package var maxHeaderFields: Int
    /// Request body bytes; 0 means unlimited (413 beyond).
    package var maxBodyBytes: UInt64
    /// A chunk-size line including its extensions.
    package var maxChunkLineBytes: Int
    /// The trailer section of a chunked body.
    package var maxTrailerBytes: Int
    /// HTTP/1.1 requests must carry exactly one Host (RFC 9112 §3.2); off only to compare framing with other parsers.
    package var requireHost: Bool

    package init(
        maxHeadBytes: Int = 32 * 1024,
        maxTargetBytes: Int = 8 * 1024,
        maxHeaderFields: Int = 100,
        maxBodyBytes: UInt64 = 10 * 1024 * 1024,
        maxChunkLineBytes: Int = 4096,
        maxTrailerBytes: Int = 8 * 1024,
        requireHost: Bool = true
    ) {
        self.maxHeadBytes = maxHeadBytes
        self.maxTargetBytes = min(maxTargetBytes, maxHeadBytes)
        self.maxHeaderFields = maxHeaderFields
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkLineBytes = maxChunkLineBytes
        self.maxTrailerBytes = maxTrailerBytes
        self.requireHost = requireHost
    }
}
