public import Encoding

/// The one serializer of message heads, request and response alike: start line, fields, blank line, written
/// straight into a byte buffer. Names and values come from authgate's own code or from fields the strict parsers
/// validated, never raw from a client.
///
/// Public, with its per-field writes `@inlinable`, for the reason `ByteWriter` is: a proxied request writes twenty
/// fields through it from other modules, and only public bodies are inlined across modules.
public struct HeadWriter {
    /// Where the head is written: a writer of its own, or one a loop lends (`EventLoop.takeWriter`).
    @usableFromInline let out: ByteWriter

    package init(capacity: Int = 512) {
        out = ByteWriter(capacity: capacity)
    }

    @inlinable
    public init(into writer: ByteWriter) {
        out = writer
    }

    /// How many bytes were written.
    @inlinable public var count: Int { out.count }

    /// The head as written.
    package func finish() -> [UInt8] { out.finish() }

    /// The head as written, without a copy: to hand it to a socket as it is.
    @inlinable
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result { out.withBytes(body) }

    /// `HTTP/1.1 200 OK`: authgate always answers as HTTP/1.1 (RFC 9110 §6.2).
    package mutating func statusLine(_ code: Int, reason: String) {
        out.append("HTTP/1.1 " as StaticString)
        Digits.appendDecimal(code, to: out)
        out.append(0x20)
        out.append(reason)
        endLine()
    }

    package mutating func statusLine(_ code: Int, reason: UnsafeRawBufferPointer) {
        out.append("HTTP/1.1 " as StaticString)
        Digits.appendDecimal(code, to: out)
        out.append(0x20)
        out.append(reason)
        endLine()
    }

    /// `METHOD TARGET HTTP/1.1`, the target written in its three parts: a base path, a path, a query.
    package mutating func requestLine(
        method: UnsafeRawBufferPointer, base: String, path: UnsafeRawBufferPointer, query: UnsafeRawBufferPointer
    ) {
        out.append(method)
        out.append(0x20)
        out.append(base)
        out.append(path)
        out.append(query)
        out.append(" HTTP/1.1\r\n" as StaticString)
    }

    @inlinable @inline(__always)
    public mutating func field(_ name: StaticString, _ value: String) {
        appendName(name)
        out.append(value)
        endLine()
    }

    @inlinable @inline(__always)
    public mutating func field(_ name: StaticString, _ value: StaticString) {
        appendName(name)
        out.append(value)
        endLine()
    }

    /// A field whose value authgate holds as bytes (a token's claims, a cached date).
    @inlinable @inline(__always)
    public mutating func field(_ name: StaticString, bytes value: UnsafeRawBufferPointer) {
        appendName(name)
        out.append(value)
        endLine()
    }

    package mutating func field(_ name: StaticString, decimal value: UInt64) {
        appendName(name)
        Digits.appendDecimal(value, to: out)
        endLine()
    }

    /// A field authgate made, whose name is not a literal (configured or computed).
    @inlinable @inline(__always)
    public mutating func field(name: String, value: String) {
        out.append(name)
        out.append(": " as StaticString)
        out.append(value)
        endLine()
    }

    /// A validated field copied as bytes: a token-sized value is not worth a String on every request.
    @inlinable @inline(__always)
    public mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        out.append(name)
        out.append(": " as StaticString)
        out.append(value)
        endLine()
    }

    /// A field whose value is written in parts (`appendValue`), ended with `endField`: a list joined as it is
    /// written, such as X-Forwarded-For.
    @inlinable
    public mutating func beginField(_ name: StaticString) {
        appendName(name)
    }

    @inlinable
    public mutating func appendValue(_ part: UnsafeRawBufferPointer) {
        out.append(part)
    }

    @inlinable
    public mutating func appendValue(_ part: String) {
        out.append(part)
    }

    @inlinable
    public mutating func appendValue(_ part: StaticString) {
        out.append(part)
    }

    @inlinable
    public mutating func endField() {
        endLine()
    }

    /// Field lines serialized ahead of time, each ending in CRLF (a policy's fixed fields, made once per
    /// configuration): appended as they are.
    @inlinable
    public mutating func fieldLines(_ lines: [UInt8]) {
        out.append(lines)
    }

    /// One `Vary` field for an answer authgate makes depend on one more request field (CORS: `Origin`): every
    /// element of the answer's own `Vary` fields, then `name`, unless they list it already (in any case) or
    /// list "*", which covers every name. One field with both meanings, rather than the upstream's and ours
    /// side by side: RFC 9110 §5.3 makes them equal, but a cache that reads only the first would miss one.
    package mutating func varyField(
        merging raw: UnsafeRawBufferPointer, fields: [HeaderField], adding name: StaticString
    ) {
        let added = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        var covered = false
        var count = 0
        for field in fields where raw.equalsLowercase(field.name, "vary") {
            RequestHeadParser.forEachListElement(raw, field.value) { element in
                count += 1
                let isStar = element.count == 1 && raw[element.lowerBound] == UInt8(ascii: "*")
                if isStar || raw.equalsIgnoringCase(element, added) { covered = true }
            }
        }
        out.append("Vary: " as StaticString)
        var written = 0
        for field in fields where raw.equalsLowercase(field.name, "vary") {
            RequestHeadParser.forEachListElement(raw, field.value) { element in
                if written > 0 { out.append(", " as StaticString) }
                out.append(UnsafeRawBufferPointer(rebasing: raw[element]))
                written += 1
            }
        }
        if !covered {
            if count > 0 { out.append(", " as StaticString) }
            out.append(added)
        }
        endLine()
    }

    /// A whole answer's body, after the blank line.
    package mutating func appendBody(_ body: [UInt8]) {
        out.append(body)
    }

    /// The blank line that ends the head.
    @inlinable
    public mutating func end() {
        endLine()
    }

    @inlinable @inline(__always)
    mutating func appendName(_ name: StaticString) {
        out.append(name)
        out.append(": " as StaticString)
    }

    @inlinable @inline(__always)
    mutating func endLine() {
        out.append("\r\n" as StaticString)
    }
}

/// Frames body bytes as HTTP/1.1 chunks, for either side: answers re-chunked to clients, request bodies
/// re-chunked to upstreams.
package enum ChunkedEncoder {
    /// `SIZE\r\nBYTES\r\n`; nothing for an empty slice, which would end the body.
    package static func chunk(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        guard !bytes.isEmpty else { return [] }
        var out = ByteWriter(capacity: bytes.count + 20)
        Digits.appendLowercaseHex(UInt64(bytes.count), to: out)
        out.append("\r\n" as StaticString)
        out.append(bytes)
        out.append("\r\n" as StaticString)
        return out.finish()
    }

    /// The zero-size chunk with no trailers.
    package static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

}
