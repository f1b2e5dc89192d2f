internal import CHiredis

/// hiredis's RESP reader behind a type that owns it: bytes go in as the socket gives them, whole replies come
/// out as Swift values. Every byte comes from the network and is hostile: a reply is bounded in nesting
/// (hiredis: an array and eight levels under it), in elements per array (`maxElements`) and in the bytes it may
/// take (`maxReplyBytes`, counted from the end of the previous reply, in whole reads), and after the first
/// violation the reader answers nothing but the error.
package final class ReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>
    private let maxReplyBytes: Int
    /// Bytes fed since the last complete reply.
    private var pendingBytes = 0
    private var failure: RedisError?

    package init(maxElements: Int = 65_536, maxReplyBytes: Int = 16 << 20) {
        guard let made = chiredis_reader_create(Int32(clamping: maxElements)) else {
            fatalError("hiredis: out of memory creating a reply reader")
        }
        reader = made
        self.maxReplyBytes = maxReplyBytes
    }

    deinit {
        chiredis_reader_free(reader)
    }

    /// Hands bytes read from the connection to the parser.
    package func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisError) {
        if let failure { throw failure }
        guard !bytes.isEmpty, let base = bytes.baseAddress else { return }
        pendingBytes += bytes.count
        guard pendingBytes <= maxReplyBytes else {
            throw fail("a reply is longer than \(maxReplyBytes) bytes")
        }
        guard redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK else {
            throw fail(String(cString: chiredis_reader_error(reader)))
        }
    }

    /// The next whole reply, or nil until more bytes arrive.
    package func next() throws(RedisError) -> RedisReply? {
        if let failure { throw failure }
        var object: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &object) == REDIS_OK else {
            throw fail(String(cString: chiredis_reader_error(reader)))
        }
        guard let object else { return nil }
        defer { freeReplyObject(object) }
        pendingBytes = chiredis_reader_unparsed(reader)
        return Self.convert(UnsafePointer(object.assumingMemoryBound(to: redisReply.self)))
    }

    private func fail(_ message: String) -> RedisError {
        let error = RedisError(.protocolViolation, "not a Redis reply: \(message)")
        failure = error
        return error
    }

    private static func convert(_ reply: UnsafePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        func bytes() -> [UInt8] {
            guard let start = value.str, value.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: start, count: value.len))
        }
        switch value.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(value.integer)
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                guard let element = chiredis_reply_element(reply, index) else { return .null }
                elements.append(convert(element))
            }
            return .array(elements)
        default: return .null
        }
    }
}
