import Encoding

/// The one serializer of message heads, request and response alike: start line, fields, blank line, written
/// straight into a byte buffer. Names and values come from authgate's own code or from fields the strict parsers
/// validated, never raw from a client.
package struct HeadWriter {
    package private(set) var bytes: [UInt8]

    package init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// `HTTP/1.1 200 OK`: authgate always answers as HTTP/1.1 (RFC 9110 §6.2).
    package mutating func statusLine(_ code: Int, reason: String) {
        bytes.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(code)
        bytes.append(0x20)
        bytes.append(contentsOf: reason.utf8)
        endLine()
    }

    package mutating func statusLine(_ code: Int, reason: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(code)
        bytes.append(0x20)
        bytes.append(contentsOf: reason)
        endLine()
    }

    /// `METHOD TARGET HTTP/1.1`.
    package mutating func requestLine(method: UnsafeRawBufferPointer, target: String) {
        bytes.append(contentsOf: method)
        bytes.append(0x20)
        bytes.append(contentsOf: target.utf8)
        bytes.append(contentsOf: " HTTP/1.1\r\n".utf8)
    }

    package mutating func field(_ name: StaticString, _ value: String) {
        appendName(name)
        bytes.append(contentsOf: value.utf8)
        endLine()
    }

    package mutating func field(_ name: StaticString, decimal value: UInt64) {
        appendName(name)
        appendDecimal(value)
        endLine()
    }

    /// A field authgate made, whose name is not a literal (configured or computed).
    package mutating func field(name: String, value: String) {
        bytes.append(contentsOf: name.utf8)
        bytes.append(contentsOf: ": ".utf8)
        bytes.append(contentsOf: value.utf8)
        endLine()
    }

    /// A validated field copied as bytes: a token-sized value is not worth a String on every request.
    package mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: name)
        bytes.append(contentsOf: ": ".utf8)
        bytes.append(contentsOf: value)
        endLine()
    }

    /// A field whose value is written in parts (`appendValue`), ended with `endField`: a list joined as it is
    /// written, such as X-Forwarded-For.
    package mutating func beginField(_ name: StaticString) {
        appendName(name)
    }

    package mutating func appendValue(_ part: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: part)
    }

    package mutating func appendValue(_ part: String) {
        bytes.append(contentsOf: part.utf8)
    }

    package mutating func endField() {
        endLine()
    }

    /// Field lines serialized ahead of time, each ending in CRLF (a policy's fixed fields, made once per
    /// configuration): appended as they are.
    package mutating func fieldLines(_ lines: [UInt8]) {
        bytes.append(contentsOf: lines)
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
        bytes.append(contentsOf: "Vary: ".utf8)
        var written = 0
        for field in fields where raw.equalsLowercase(field.name, "vary") {
            RequestHeadParser.forEachListElement(raw, field.value) { element in
                if written > 0 { bytes.append(contentsOf: ", ".utf8) }
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[element]))
                written += 1
            }
        }
        if !covered {
            if count > 0 { bytes.append(contentsOf: ", ".utf8) }
            bytes.append(contentsOf: added)
        }
        endLine()
    }

    /// The blank line that ends the head.
    package mutating func end() {
        endLine()
    }

    private mutating func appendName(_ name: StaticString) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(0x3A)
        bytes.append(0x20)
    }

    private mutating func appendDecimal<Number: BinaryInteger>(_ value: Number) {
        Digits.appendDecimal(UInt64(value), to: &bytes)
    }

    /// CRLF byte by byte: an array literal here would be built on every line.
    private mutating func endLine() {
        bytes.append(13)
        bytes.append(10)
    }
}

/// Frames body bytes as HTTP/1.1 chunks, for either side: answers re-chunked to clients, request bodies
/// re-chunked to upstreams.
package enum ChunkedEncoder {
    /// `SIZE\r\nBYTES\r\n`; nothing for an empty slice, which would end the body.
    package static func appendChunk(_ chunk: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        guard !chunk.isEmpty else { return }
        Digits.appendLowercaseHex(UInt64(chunk.count), to: &out)
        out.append(13)
        out.append(10)
        out.append(contentsOf: chunk)
        out.append(13)
        out.append(10)
    }

    package static func chunk(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 20)
        appendChunk(bytes, to: &out)
        return out
    }

    /// The zero-size chunk with no trailers.
    package static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

}
