import Cryptography
import Dispatch
import Encoding
import EventLoop
import HTTP1
import JWT
import Logging

/// Loop-confined (`@unchecked Sendable` only to travel back to its loop after authorization).
/// One request on its way to an upstream and its answer on the way back, both streamed: the request body
/// waits (bounded) until the request is authorized and the upstream connected; each side pauses the other
/// when it cannot keep up.
final class ProxyExchange: RequestBodyConsumer, UpstreamConnectionDelegate, HandlerDeadlineObserver, @unchecked Sendable
{
    let client: ClientConnection
    let head: RequestHead
    let route: RouteSettings
    let pool: UpstreamPool
    let tls: UpstreamTLS?
    /// nil when the CORS policy does not reach the route.
    let cors: CORSAnswerFields?
    let settings: ProxySettings
    let logger: Logger

    private enum State {
        /// The authorizer has not decided yet; the body is held, with a small bound.
        case authorizing
        /// Authorized (the token, if the route needs one); the upstream connection opens, the body is held.
        case connecting(UpstreamConnection, token: VerifiedToken?, isRetry: Bool)
        /// The request went upstream (its body may still be streaming); no answer head yet.
        case awaitingAnswer(UpstreamConnection, token: VerifiedToken?, isRetry: Bool)
        /// The answer streams to the client.
        case answering(UpstreamConnection)
        /// Answered, refused or failed: nothing more happens.
        case finished
    }

    /// How far the client's request body has come, independently of the upstream side.
    private enum RequestBody {
        case none
        case receiving
        case ended
    }

    private var state = State.authorizing
    private var requestBody: RequestBody
    /// Request body held until the upstream is connected, already framed for it.
    private var pendingBody: [UInt8] = []

    /// Request body held while the upstream connection opens; past this, reading from the client pauses.
    static let maxPendingBody = 256 * 1024
    /// Held before the request is authorized (a JWKS re-fetch may be under way): an unauthenticated client
    /// must not make the gateway hold much for it.
    static let maxPendingBodyUnauthorized = 16 * 1024

    init(
        client: ClientConnection, head: RequestHead, route: RouteSettings, pool: UpstreamPool,
        tls: UpstreamTLS?, cors: CORSAnswerFields?, settings: ProxySettings, logger: Logger
    ) {
        self.client = client
        self.head = head
        self.route = route
        self.pool = pool
        self.tls = tls
        self.cors = cors
        self.settings = settings
        self.logger = logger
        self.requestBody = head.framing == .none ? .none : .receiving
    }

    private var upstream: UpstreamConnection? {
        switch state {
        case .connecting(let connection, _, _), .awaitingAnswer(let connection, _, _), .answering(let connection):
            return connection
        case .authorizing, .finished:
            return nil
        }
    }

    private var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    // MARK: Decision

    /// Authorization passed (or the route needs none): connect and send.
    func proceed(token: VerifiedToken?) {
        guard case .authorizing = state else { return }
        // upstream_timeout runs from here: a connect that hangs is an upstream that does not answer.
        armTimeout()
        connect(token: token, isRetry: false)
    }

    /// The request was refused; its answer was written by the handler.
    func abandon() {
        state = .finished
        pendingBody = []
    }

    private func connect(token: VerifiedToken?, isRetry: Bool) {
        if let idle = pool.takeIdle() {
            idle.delegate = self
            state = .connecting(idle, token: token, isRetry: isRetry)
            upstreamConnected(idle)
            return
        }
        let connection: UpstreamConnection
        do {
            connection = try UpstreamConnection(
                loop: client.loop, address: pool.addressForNewConnection(), limits: settings.responseLimits, tls: tls)
        } catch {
            fail("cannot open a socket: \(error)", .upstreamFailed)
            return
        }
        connection.delegate = self
        state = .connecting(connection, token: token, isRetry: isRetry)
        connection.connect()
    }

    // MARK: Client side

    func bodyBytes(_ bytes: UnsafeRawBufferPointer, connection: ClientConnection) {
        switch state {
        case .awaitingAnswer(let upstream, _, _), .answering(let upstream):
            upstream.send(frame(bytes))
            if upstream.hasPendingOutput { client.pauseReading(true) }
        case .authorizing, .connecting:
            pendingBody.append(contentsOf: frame(bytes))
            let limit: Int
            if case .authorizing = state {
                limit = Self.maxPendingBodyUnauthorized
            } else {
                limit = Self.maxPendingBody
            }
            if pendingBody.count > limit { client.pauseReading(true) }
        case .finished:
            break
        }
    }

    func bodyEnded(connection: ClientConnection) {
        requestBody = .ended
        guard head.framing == .chunked else { return }
        switch state {
        case .awaitingAnswer(let upstream, _, _), .answering(let upstream): upstream.send(ChunkedEncoder.lastChunk)
        case .authorizing, .connecting: pendingBody += ChunkedEncoder.lastChunk
        case .finished: break
        }
    }

    func connectionAborted(connection: ClientConnection) {
        let upstream = self.upstream
        state = .finished
        upstream?.close()
    }

    private func frame(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        head.framing == .chunked ? ChunkedEncoder.chunk(bytes) : Array(bytes)
    }

    // MARK: Upstream side

    func upstreamConnected(_ connection: UpstreamConnection) {
        guard case .connecting(let upstream, let token, let isRetry) = state, upstream === connection else { return }
        state = .awaitingAnswer(connection, token: token, isRetry: isRetry)
        connection.startRequest(isHead: head.isHead)
        var length: UInt64?
        if case .length(let value) = head.framing { length = value }
        let writer = client.loop.takeWriter()
        UpstreamRequest.head(
            for: head, route: route, token: token, peerAddress: client.peerAddress,
            clientAddress: client.clientAddress,
            requestID: client.currentRequestID,
            secure: client.isSecure, bodyLength: length, chunked: head.framing == .chunked, into: writer
        )
        writer.withBytes { connection.send($0) }
        client.loop.giveBack(writer)
        if !pendingBody.isEmpty {
            connection.send(pendingBody)
            pendingBody = []
        }
        if requestBody == .receiving { client.continueIfExpected() }
        client.pauseReading(connection.hasPendingOutput)
    }

    func upstreamDrained(connection: UpstreamConnection) {
        if !isFinished { client.pauseReading(false) }
    }

    func upstreamHead(_ response: ResponseHead, connection: UpstreamConnection) {
        guard case .awaitingAnswer(let upstream, _, _) = state, upstream === connection, !response.isInformational
        else {
            return
        }
        state = .answering(connection)
        client.disarmHandlerDeadline()
        client.record.upstreamStatus = response.status
        let framing: ClientConnection.StreamFraming
        switch response.framing {
        case .none: framing = .none
        case .length(let length): framing = .length(length)
        case .chunked, .untilClose: framing = .unknownLength
        }
        let isHead = head.isHead
        let cors = self.cors
        client.onOutputDrained = { [weak connection] in connection?.setReading(true) }
        // The upstream's Vary is merged with Origin below: only the Access-Control-* part is added after it.
        if let cors { client.extraAnswerFields = cors.accessControl }
        response.bytes.withUnsafeBytes { raw in
            let rules = HopByHop(raw, fields: response.fields)
            client.beginResponse(
                status: response.status, reason: UnsafeRawBufferPointer(rebasing: raw[response.reasonRange]),
                framing: framing
            ) { out in
                for field in response.fields {
                    guard rules.disposition(of: field.name, in: raw, going: .toClient) == .copy else { continue }
                    if cors != nil && CORSPolicy.replacesUpstreamField(field.name, in: raw) { continue }
                    out.field(
                        name: UnsafeRawBufferPointer(rebasing: raw[field.name]),
                        value: UnsafeRawBufferPointer(rebasing: raw[field.value]))
                }
                if cors != nil { out.varyField(merging: raw, fields: response.fields, adding: "Origin") }
                guard case .none = response.framing else { return }
                // A HEAD answer tells the length of what GET would send; 204 and 304 carry none.
                if isHead, let length = response.firstValue("content-length") {
                    out.field("Content-Length", length)
                } else if response.status != 204 && response.status != 304 && !isHead {
                    out.field("Content-Length", decimal: 0)
                }
            }
        }
    }

    func upstreamBody(_ bytes: UnsafeRawBufferPointer, connection: UpstreamConnection) {
        guard case .answering(let upstream) = state, upstream === connection else { return }
        client.sendBody(bytes)
        // A slow client pauses the upstream instead of filling memory.
        if client.hasPendingOutput { connection.setReading(false) }
    }

    func upstreamEnd(connection: UpstreamConnection) {
        guard case .answering(let upstream) = state, upstream === connection else { return }
        state = .finished
        if requestBody == .receiving {
            // The upstream answered before the request body ended: the connection is mid-request.
            connection.close()
        } else {
            pool.giveBack(connection)
        }
        client.endResponse()
    }

    func upstreamFailed(_ reason: String, beforeAnswer: Bool, connection: UpstreamConnection) {
        guard upstream === connection else { return }
        // A kept-alive connection the upstream had closed: retry once, for requests safe to repeat.
        if case .awaitingAnswer(_, let token, isRetry: false) = state, beforeAnswer, connection.reused,
            requestBody == .none, Self.idempotent.contains(head.method)
        {
            connect(token: token, isRetry: true)
            return
        }
        fail(reason, .upstreamFailed)
    }

    private static let idempotent: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]

    private func armTimeout() {
        client.armHandlerDeadline(after: settings.upstreamTimeout, observer: self)
    }

    func handlerDeadlinePassed() {
        switch state {
        case .connecting, .awaitingAnswer: break
        case .authorizing, .answering, .finished: return
        }
        fail("no answer head within upstream_timeout", .upstreamTimeout)
    }

    private func fail(_ reason: String, _ refusal: Refusal) {
        let upstream = self.upstream
        state = .finished
        client.disarmHandlerDeadline()
        upstream?.close()
        logger.warning(
            "upstream failed",
            metadata: [
                "route": "\(route.prefix)", "upstream": "\(upstream.map { "\($0.address)" } ?? "\(pool.addresses[0])")",
                "cause": "\(reason)",
                "request_id": "\(client.currentRequestID)",
            ]
        )
        let kind = refusal == .upstreamTimeout ? "timeout" : "failed"
        settings.metrics.count(.upstreamErrors, Metrics.labels([("route", route.prefix), ("kind", kind)]))
        if client.hasStartedResponse {
            client.closeNow()
        } else {
            client.refuse(refusal)
        }
    }
}

/// What every exchange needs from the configuration.
struct ProxySettings: Sendable {
    let upstreamTimeout: UInt64
    let responseLimits: HTTPLimits
    let metrics: Metrics
}
