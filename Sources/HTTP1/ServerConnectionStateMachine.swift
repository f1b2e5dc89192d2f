/// The logic of one client connection, without I/O: the connection feeds it bytes and events and
/// carries out the actions it returns. It keeps pipelined requests in order, decides keep-alive,
/// handles `Expect: 100-continue`, and discards request bodies that nobody reads.
package struct ServerConnectionStateMachine: Sendable {
    package enum Action: Sendable {
        /// Nothing to do until more bytes arrive.
        case readMore
        /// A request head for the handler, which must eventually answer it.
        case head(RequestHead)
        /// Request body bytes: a slice of the buffer that was given to `decode`.
        case body(Range<Int>)
        case bodyEnd
        /// The current request is fully read; later bytes (pipelined requests) wait for its answer.
        case awaitResponse
        /// Write this error's response with `Connection: close`, then close.
        case respondWithErrorAndClose(HTTPParseError)
        /// Close without answering: the client sent nothing, or an answer is already under way.
        case close
    }

    package enum AfterResponse: Sendable, Equatable {
        /// Go on decoding: a next (perhaps already buffered) request, or the rest of an unread body.
        case continueReading
        case close
    }

    private struct Exchange: Sendable {
        var keepAlive: Bool
        var expectsContinue: Bool
        var continueSent = false
        var bodyEnded = false
        var responseStarted = false
        var responseEnded = false
    }

    private enum Phase: Sendable {
        case awaitingHead
        case exchange(Exchange)
        /// A `101` was relayed: the connection carries a tunnel's bytes, which are never decoded as HTTP.
        case tunnel
        case closed
    }

    private var decoder: RequestDecoder
    private var phase: Phase = .awaitingHead
    package private(set) var requestsStarted = 0

    package init(limits: HTTPLimits) {
        self.decoder = RequestDecoder(limits: limits)
    }

    /// Idle between requests (no byte of the next head yet): the idle timeout applies, not the head timeout.
    package var isIdle: Bool {
        if case .awaitingHead = phase { return decoder.isBetweenRequests }
        return false
    }

    package var isReadingHead: Bool {
        if case .awaitingHead = phase { return true }
        return false
    }

    package var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    /// Decodes as much of `buffer` as the current state allows. Returns the action and how many bytes to consume.
    package mutating func decode(_ buffer: UnsafeRawBufferPointer) -> (Action, consumed: Int) {
        var consumedTotal = 0
        while true {
            let remaining = UnsafeRawBufferPointer(rebasing: buffer[consumedTotal...])
            switch phase {
            case .closed, .tunnel:
                return (.readMore, consumedTotal)
            case .exchange(let exchange) where exchange.bodyEnded:
                return (.awaitResponse, consumedTotal)
            case .awaitingHead, .exchange:
                break
            }
            let event: RequestDecoder.Event
            let consumed: Int
            do {
                (event, consumed) = try decoder.decode(remaining)
            } catch {
                return (fail(error), consumedTotal)
            }
            switch event {
            case .needMore:
                return (.readMore, consumedTotal + consumed)
            case .head(let head):
                requestsStarted += 1
                phase = .exchange(Exchange(keepAlive: head.keepAlive, expectsContinue: head.expectsContinue))
                return (.head(head), consumedTotal + consumed)
            case .body(let range):
                guard case .exchange(let exchange) = phase else { preconditionFailure("body outside an exchange") }
                if exchange.responseEnded {
                    // Nobody reads this body any more: drop it and keep decoding.
                    consumedTotal += consumed
                    continue
                }
                return (
                    .body(range.lowerBound + consumedTotal..<range.upperBound + consumedTotal), consumedTotal + consumed
                )
            case .end:
                guard case .exchange(var exchange) = phase else { preconditionFailure("end outside an exchange") }
                exchange.bodyEnded = true
                consumedTotal += consumed
                if exchange.responseEnded {
                    decoder.startNextRequest()
                    phase = .awaitingHead
                    continue
                }
                phase = .exchange(exchange)
                return (.bodyEnd, consumedTotal)
            }
        }
    }

    private mutating func fail(_ error: HTTPParseError) -> Action {
        let responseStarted: Bool
        if case .exchange(let exchange) = phase {
            responseStarted = exchange.responseStarted
        } else {
            responseStarted = false
        }
        phase = .closed
        return responseStarted ? .close : .respondWithErrorAndClose(error)
    }

    /// The handler wants the request body. Returns true when `100 Continue` must be written first.
    package mutating func handlerWillReadBody() -> Bool {
        guard case .exchange(var exchange) = phase else { return false }
        guard exchange.expectsContinue, !exchange.continueSent, !exchange.responseStarted, !exchange.bodyEnded else {
            return false
        }
        exchange.continueSent = true
        phase = .exchange(exchange)
        return true
    }

    /// The handler is about to write the response head. `keepAlive` false means the answer says `Connection: close`.
    /// Returns whether the connection stays open after this response, so the head can say so.
    package mutating func responseWillStart(keepAlive: Bool = true) -> Bool {
        guard case .exchange(var exchange) = phase else { return false }
        exchange.responseStarted = true
        exchange.keepAlive = exchange.keepAlive && keepAlive
        // A client still waiting for 100 Continue will not send the body; the connection cannot be reused.
        if exchange.expectsContinue && !exchange.continueSent && !exchange.bodyEnded { exchange.keepAlive = false }
        phase = .exchange(exchange)
        return exchange.keepAlive
    }

    /// The whole response was handed to the connection.
    package mutating func responseEnded() -> AfterResponse {
        guard case .exchange(var exchange) = phase else { return .close }
        exchange.responseEnded = true
        guard exchange.keepAlive else {
            phase = .closed
            return .close
        }
        if exchange.bodyEnded {
            decoder.startNextRequest()
            phase = .awaitingHead
        } else {
            phase = .exchange(exchange)
        }
        return .continueReading
    }

    /// The handler is about to relay a `101` that switches the connection to a tunnel. Allowed only while the
    /// request is read whole and nothing of an answer has gone out; true when the connection became a tunnel.
    package mutating func switchingProtocols() -> Bool {
        guard case .exchange(let exchange) = phase, exchange.bodyEnded, !exchange.responseStarted else { return false }
        phase = .tunnel
        return true
    }

    package var isTunnel: Bool {
        if case .tunnel = phase { return true }
        return false
    }

    /// The head timeout fired. Returns what to do: answer 408 for a partial head, close for an idle connection.
    package mutating func headTimedOut() -> Action {
        guard case .awaitingHead = phase else { return .readMore }
        let idle = decoder.isBetweenRequests
        phase = .closed
        return idle ? .close : .respondWithErrorAndClose(HTTPParseError(.headTimeout))
    }

    /// The peer closed its sending side. Returns `.close` unless an answer is still owed.
    package mutating func peerClosed() -> Action {
        switch phase {
        case .exchange(let exchange) where exchange.bodyEnded && !exchange.responseEnded:
            // A half-closed client may still read its answer (RFC 9112 §9.6 allows it); nothing more will come.
            var finished = exchange
            finished.keepAlive = false
            phase = .exchange(finished)
            return .awaitResponse
        default:
            phase = .closed
            return .close
        }
    }
}
