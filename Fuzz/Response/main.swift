// The upstream side of a proxied exchange: ResponseDecoder (HeadScanner, the status line and field parser, the
// length, chunked and close-delimited body decoders), driven as UpstreamConnection drives it. The input is
// `FuzzInput`: flags, a split point, then the bytes an upstream sends. Bit n of the flags (n = 0...7, then
// again) says whether the n-th answer is to a HEAD request; after each answer the decoder is reset for the next
// one, as for a reused connection, and the end of the input is the upstream closing. With bit 7 set and bit 0
// clear, the first request asks for a WebSocket upgrade: a 101 is then its answer, and whatever follows is the
// tunnel's, which the decoder must never take.

import FuzzSupport
import HTTP1

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    input.expectSameForEveryReading { reads in
        var upstream = UpstreamRun(flags: input.flags)
        return upstream.read(input.bytes, in: reads)
    }
    return 0
}

/// What the proxy made of the upstream's bytes, with body bytes joined, so that readings can be compared.
enum Entry: Equatable {
    case head([UInt8])
    case body([UInt8])
    case end
    case refused
    case endedByClose
    case cutShort
    /// A 101 switched the connection: the rest is the tunnel's.
    case switched(bytesAfter: Int)
}

struct UpstreamRun {
    /// The gateway's limits for answers: no bound on bodies.
    private static let limits = HTTPLimits(maxBodyBytes: 0)

    private let flags: UInt8
    private var decoder = ResponseDecoder(limits: limits)
    private var answers = 0
    private var finalHead: ResponseHead?
    private var bodyBytes: UInt64 = 0
    private var transcript: [Entry] = []
    private var failed = false
    private var events = 0

    init(flags: UInt8) {
        self.flags = flags
        expectNextAnswer()
    }

    private var requestIsHead: Bool { flags & (1 << UInt8(answers % 8)) != 0 }
    private var requestIsUpgrade: Bool { answers == 0 && flags & 0x81 == 0x80 }
    private var switched = false

    private mutating func expectNextAnswer() {
        decoder.expectResponse(toHead: requestIsHead, upgrade: requestIsUpgrade)
        precondition(decoder.isAwaitingFirstByte && !decoder.hasEnded, "a fresh decoder that is not fresh")
        finalHead = nil
        bodyBytes = 0
    }

    mutating func read(_ stream: [UInt8], in reads: [Range<Int>]) -> [Entry] {
        let budget = 3 * stream.count + reads.count + 8
        var pending: [UInt8] = []
        for read in reads where !failed {
            if switched {
                // The connection hands these to its tunnel; the decoder must not take a byte of them.
                let probe = stream[read].withUnsafeBytes { raw in
                    Result { () throws(HTTPParseError) in try decoder.decode(raw) }
                }
                guard case .success((.needMore, 0)) = probe else { preconditionFailure("bytes decoded after a 101") }
                appendTunnel(read.count)
                continue
            }
            pending += stream[read]
            let consumed = pending.withUnsafeBytes { process($0, budget: budget) }
            pending.removeFirst(consumed)
        }
        if !failed && !switched { upstreamClosed() }
        return transcript
    }

    private mutating func process(_ buffer: UnsafeRawBufferPointer, budget: Int) -> Int {
        var offset = 0
        while true {
            events += 1
            precondition(events <= budget, "decoding makes no progress")
            let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
            let event: ResponseDecoder.Event
            let consumed: Int
            do {
                (event, consumed) = try decoder.decode(rest)
            } catch {
                transcript.append(.refused)
                failed = true
                return offset
            }
            precondition(consumed >= 0 && consumed <= rest.count, "consumed count out of bounds")
            offset += consumed
            switch event {
            case .needMore:
                // The connection now waits for the socket with what is left: nothing decodable may stay behind.
                var probe = decoder
                let again = Result { () throws(HTTPParseError) in
                    try probe.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                }
                guard case .success((.needMore, 0)) = again else { preconditionFailure("needMore left an event") }
                return offset
            case .head(let head):
                precondition(consumed > 0 && finalHead == nil, "a head from no bytes, or after the final head")
                check(head)
                transcript.append(.head(head.bytes))
                if head.switchesProtocols {
                    switched = true
                    appendTunnel(rest.count - consumed)
                    return buffer.count
                }
                if !head.isInformational { finalHead = head }
            case .body(let range):
                precondition(consumed > 0 && !range.isEmpty && range.isWithin(consumed), "body range out of bounds")
                guard let head = finalHead else { preconditionFailure("body before the final head") }
                bodyBytes += UInt64(range.count)
                switch head.framing {
                case .none: preconditionFailure("a body where none was framed")
                case .length(let length): precondition(bodyBytes <= length, "more body than Content-Length")
                case .chunked, .untilClose: break
                }
                appendBody(Array(rest[range]))
            case .end:
                guard let head = finalHead else { preconditionFailure("an end before the final head") }
                precondition(decoder.hasEnded, "an end, but the decoder has not ended")
                switch head.framing {
                case .none: precondition(bodyBytes == 0, "a body where none was framed")
                case .length(let length): precondition(bodyBytes == length, "body shorter than Content-Length")
                case .chunked: break
                case .untilClose: preconditionFailure("a close-delimited body ended before the close")
                }
                transcript.append(.end)
                // The connection goes back to its pool; the next bytes answer the next request.
                answers += 1
                expectNextAnswer()
            }
        }
    }

    /// The upstream closed: only a close-delimited body may end so; anything else was cut short.
    private mutating func upstreamClosed() {
        do {
            let event = try decoder.peerClosed()
            guard case .end = event else { preconditionFailure("close after an end reported as news") }
            precondition(finalHead?.framing == .untilClose, "the close ended a body that was not close-delimited")
            transcript.append(.endedByClose)
        } catch {
            precondition(finalHead?.framing != .untilClose, "the close cut short a close-delimited body")
            transcript.append(.cutShort)
        }
    }

    /// Bytes after a 101, counted: how they were split into reads does not change the total.
    private mutating func appendTunnel(_ count: Int) {
        if case .switched(let earlier) = transcript.last {
            transcript[transcript.count - 1] = .switched(bytesAfter: earlier + count)
        } else {
            transcript.append(.switched(bytesAfter: count))
        }
    }

    private mutating func appendBody(_ bytes: [UInt8]) {
        if case .body(let earlier) = transcript.last {
            transcript[transcript.count - 1] = .body(earlier + bytes)
        } else {
            transcript.append(.body(bytes))
        }
    }

    /// What every head the decoder hands over must be, whatever the input.
    private func check(_ head: ResponseHead) {
        let bytes = head.bytes
        precondition(bytes.count <= Self.limits.maxHeadBytes && bytes.suffix(4) == [13, 10, 13, 10], "head bounds")
        precondition((100...999).contains(head.status), "status out of range")
        if head.status == 101 {
            precondition(requestIsUpgrade, "a 101 to a request that did not ask for one")
            let upgrades = head.fields.filter { HTTPBytes.equalsIgnoringCase(name(head, $0), "upgrade") }
            precondition(
                head.version == .http11 && !upgrades.isEmpty && head.framing == .none && !head.keepAlive,
                "a 101 that does not switch to WebSocket")
        }
        precondition(head.reasonRange.isWithin(bytes.count), "reason range")
        precondition(bytes[head.reasonRange].allSatisfy(HTTPBytes.isFieldValue), "reason holds a forbidden byte")
        precondition(head.fields.count <= Self.limits.maxHeaderFields, "too many fields")
        HTTPBytes.checkFields(head.fields.map { ($0.name, $0.value) }, in: bytes)
        // The framing must be the only one the fields allow, or none where the request or status says so.
        let lengths = head.fields.filter { HTTPBytes.equalsIgnoringCase(name(head, $0), "content-length") }
        let codings = head.fields.filter { HTTPBytes.equalsIgnoringCase(name(head, $0), "transfer-encoding") }
        precondition(lengths.count <= 1 && codings.count <= 1, "repeated framing fields")
        precondition(codings.allSatisfy { HTTPBytes.equalsIgnoringCase(value(head, $0), "chunked") }, "a coding")
        let length = lengths.first.flatMap { UInt64(value(head, $0)) }
        precondition(lengths.isEmpty || length != nil, "a Content-Length that is not a number")
        if requestIsHead || head.status < 200 || head.status == 204 || head.status == 304 {
            precondition(head.framing == .none, "a body after HEAD, 1xx, 204 or 304")
            return
        }
        switch head.framing {
        case .none:
            precondition(codings.isEmpty && length == 0, "no body without Content-Length: 0")
        case .length(let framed):
            precondition(codings.isEmpty && length == framed && framed > 0, "length framing that is not the field")
        case .chunked:
            precondition(lengths.isEmpty && codings.count == 1, "chunked framing with other fields")
            precondition(head.version == .http11, "chunked in HTTP/1.0")
        case .untilClose:
            precondition(lengths.isEmpty && codings.isEmpty, "close-delimited with framing fields")
            precondition(!head.keepAlive, "a close-delimited body on a connection kept alive")
        }
        _ = (head.reason, head.firstValue("content-type"))
    }

    private func name(_ head: ResponseHead, _ field: HeaderField) -> String {
        String(decoding: head.bytes[field.name], as: UTF8.self)
    }

    private func value(_ head: ResponseHead, _ field: HeaderField) -> String {
        String(decoding: head.bytes[field.value], as: UTF8.self)
    }
}

FuzzDriver.run(fuzz)
