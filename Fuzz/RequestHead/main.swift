// The request side of a client connection: ServerConnectionStateMachine over RequestDecoder (HeadScanner,
// RequestHeadParser, the length and chunked body decoders), driven as ClientConnection drives it. The input is
// `FuzzInput`: flags, a split point, then the bytes a client sends. Flags: bit 0, the handler answers as soon as
// the head is in (as a refusal does) and the body is dropped, else after the body; bit 1, Host is required;
// bit 2, the server's default limits, else small ones the fuzzer can reach.

import FuzzSupport
import HTTP1

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    input.expectSameForEveryReading { reads in
        var connection = ConnectionRun(input)
        return connection.read(input.bytes, in: reads)
    }
    return 0
}

/// What a connection made of the bytes, with body bytes joined, so that readings can be compared.
enum Entry: Equatable {
    case head([UInt8])
    case body([UInt8])
    case bodyEnd
    case answered(keepsOpen: Bool)
    case refused
    case closed
}

struct ConnectionRun {
    private struct Exchange {
        let head: RequestHead
        var bodyBytes: UInt64 = 0
        var answered = false
    }

    private let limits: HTTPLimits
    private let answersAtHead: Bool
    private var machine: ServerConnectionStateMachine
    private var transcript: [Entry] = []
    private var exchange: Exchange?
    private var closed = false
    private var actions = 0

    init(_ input: FuzzInput) {
        var limits =
            input.flag(2)
            ? HTTPLimits()
            : HTTPLimits(
                maxHeadBytes: 1024, maxTargetBytes: 256, maxHeaderFields: 16, maxBodyBytes: 2048,
                maxChunkLineBytes: 64, maxTrailerBytes: 256)
        limits.requireHost = input.flag(1)
        self.limits = limits
        answersAtHead = input.flag(0)
        machine = ServerConnectionStateMachine(limits: limits)
    }

    /// Feeds `stream` read by read, keeping unconsumed bytes in front of the next read as the connection does.
    mutating func read(_ stream: [UInt8], in reads: [Range<Int>]) -> [Entry] {
        // Every action but readMore consumes bytes or follows one that did: more than this is a loop.
        let budget = 3 * stream.count + reads.count + 8
        var pending: [UInt8] = []
        for read in reads where !closed {
            pending += stream[read]
            let consumed = pending.withUnsafeBytes { process($0, budget: budget) }
            pending.removeFirst(consumed)
        }
        if !closed {
            // End of input: the client closed. Every request was answered, so no answer is owed.
            guard case .close = machine.peerClosed() else { preconditionFailure("peer close owed an answer") }
            precondition(machine.isClosed, "still open after the peer closed")
            transcript.append(.closed)
        }
        return transcript
    }

    private mutating func process(_ buffer: UnsafeRawBufferPointer, budget: Int) -> Int {
        var offset = 0
        while !closed {
            actions += 1
            precondition(actions <= budget, "decoding makes no progress")
            let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
            let (action, consumed) = machine.decode(rest)
            precondition(consumed >= 0 && consumed <= rest.count, "consumed count out of bounds")
            offset += consumed
            switch action {
            case .readMore:
                // The connection now waits for the socket with what is left: nothing decodable may stay behind.
                var probe = machine
                let (again, more) = probe.decode(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                guard case .readMore = again, more == 0 else { preconditionFailure("readMore left an event behind") }
                return offset
            case .head(let head):
                precondition(consumed > 0, "a head from no bytes")
                precondition(exchange.map(\.answered) ?? true, "a head before the last request was answered")
                check(head)
                transcript.append(.head(head.bytes))
                exchange = Exchange(head: head)
                if answersAtHead {
                    answer()
                } else if head.framing != .none {
                    // The handler reads the body: 100 Continue is owed once, and only when asked for.
                    let owesContinue = machine.handlerWillReadBody()
                    precondition(!owesContinue || head.expectsContinue, "100 Continue nobody asked for")
                    precondition(!machine.handlerWillReadBody(), "100 Continue owed twice")
                }
            case .body(let range):
                precondition(consumed > 0 && !range.isEmpty && range.isWithin(consumed), "body range out of bounds")
                guard var current = exchange, !current.answered else { preconditionFailure("body nobody reads") }
                current.bodyBytes += UInt64(range.count)
                if case .length(let length) = current.head.framing {
                    precondition(current.bodyBytes <= length, "more body than Content-Length")
                }
                precondition(limits.maxBodyBytes == 0 || current.bodyBytes <= limits.maxBodyBytes, "body over limit")
                exchange = current
                appendBody(Array(rest[range]))
            case .bodyEnd:
                guard let current = exchange, !current.answered else { preconditionFailure("body end nobody reads") }
                switch current.head.framing {
                case .none: precondition(current.bodyBytes == 0, "a body where none was framed")
                case .length(let length): precondition(current.bodyBytes == length, "body shorter than Content-Length")
                case .chunked: break
                }
                transcript.append(.bodyEnd)
                answer()
            case .awaitResponse:
                preconditionFailure("awaitResponse, but every request was answered")
            case .respondWithErrorAndClose:
                precondition(machine.isClosed, "refused but not closed")
                transcript.append(.refused)
                closed = true
            case .close:
                precondition(exchange?.answered ?? false, "closed without an answer under way")
                precondition(machine.isClosed, "close but not closed")
                transcript.append(.closed)
                closed = true
            }
        }
        return offset
    }

    /// The handler writes a whole answer, as ClientConnection.respond does.
    private mutating func answer() {
        guard var current = exchange else { preconditionFailure("no exchange to answer") }
        let keepsOpen = machine.responseWillStart(keepAlive: true)
        precondition(!keepsOpen || current.head.keepAlive, "kept open against the client's wish")
        let after = machine.responseEnded()
        precondition((after == .close) == !keepsOpen, "the answer said one thing and the connection did another")
        current.answered = true
        // Answered after its body, the exchange is over; answered at its head, its body is still to be dropped.
        exchange = answersAtHead ? current : nil
        transcript.append(.answered(keepsOpen: keepsOpen))
        if after == .close { closed = true }
    }

    private mutating func appendBody(_ bytes: [UInt8]) {
        if case .body(let earlier) = transcript.last {
            transcript[transcript.count - 1] = .body(earlier + bytes)
        } else {
            transcript.append(.body(bytes))
        }
    }

    /// What every head the decoder hands over must be, whatever the input.
    private func check(_ head: RequestHead) {
        let bytes = head.bytes
        precondition(bytes.count <= limits.maxHeadBytes && bytes.suffix(4) == [13, 10, 13, 10], "head bounds")
        precondition(head.methodRange.isWithin(bytes.count) && !head.methodRange.isEmpty, "method range")
        precondition(bytes[head.methodRange].allSatisfy(HTTPBytes.isToken), "method is not a token")
        precondition(head.targetRange.isWithin(bytes.count), "target range")
        precondition(head.targetRange.count <= limits.maxTargetBytes, "target over limit")
        precondition(bytes[head.targetRange].allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target holds a forbidden byte")
        precondition(head.fields.count <= limits.maxHeaderFields, "too many fields")
        HTTPBytes.checkFields(head.fields.map { ($0.name, $0.value) }, in: bytes)
        if let authority = head.authorityRange {
            precondition(authority.isWithin(bytes.count) && !authority.isEmpty, "authority range")
            precondition(bytes[authority].allSatisfy { $0 > 0x20 && $0 < 0x7F }, "authority holds a forbidden byte")
        } else {
            precondition(!limits.requireHost || head.version == .http10, "HTTP/1.1 without Host")
        }
        precondition(!head.expectsContinue || head.version == .http11, "100-continue in HTTP/1.0")
        // The framing must be the only one the fields allow: this is what smuggling attacks.
        let lengths = head.values("content-length")
        let codings = head.values("transfer-encoding")
        switch head.framing {
        case .none:
            precondition(codings.isEmpty && lengths.count <= 1, "no body with framing fields")
            precondition(lengths.allSatisfy { UInt64($0) == 0 }, "no body with a non-zero Content-Length")
        case .length(let length):
            precondition(length > 0 && codings.isEmpty && lengths.count == 1, "length framing with other fields")
            precondition(UInt64(lengths[0]) == length, "length framing that is not the Content-Length")
            precondition(limits.maxBodyBytes == 0 || length <= limits.maxBodyBytes, "length over limit")
        case .chunked:
            precondition(lengths.isEmpty && codings.count == 1, "chunked framing with other fields")
            precondition(HTTPBytes.equalsIgnoringCase(codings[0], "chunked"), "chunked framing without chunked")
            precondition(head.version == .http11, "chunked in HTTP/1.0")
        }
        _ = (head.method, head.path, head.target, head.authority, head.isHead)
    }
}

FuzzDriver.run(fuzz)
