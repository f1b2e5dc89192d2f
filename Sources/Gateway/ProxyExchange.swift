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
/// when it cannot keep up. A WebSocket upgrade the upstream accepts becomes a `Tunnel` on its `101`.
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
        /// The upstream switched to WebSocket: the tunnel owns both connections now.
        case tunneling(Tunnel)
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
    /// The request asks for WebSocket on a route that allows it: it goes up with `Upgrade`, and a `101` may come.
    private let upgrade: Bool
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
        self.upgrade = route.websocket && HopByHop.asksForWebSocket(head)
    }

    private var upstream: UpstreamConnection? {
        switch state {
        case .connecting(let connection, _, _), .awaitingAnswer(let connection, _, _), .answering(let connection):
            return connection
        case .authorizing, .tunneling, .finished:
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
        case .tunneling, .finished:
            break
        }
    }

    func bodyEnded(connection: ClientConnection) {
        requestBody = .ended
        guard head.framing == .chunked else { return }
        switch state {
        case .awaitingAnswer(let upstream, _, _), .answering(let upstream): upstream.send(ChunkedEncoder.lastChunk)
        case .authorizing, .connecting: pendingBody += ChunkedEncoder.lastChunk
        case .tunneling, .finished: break
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
        connection.startRequest(isHead: head.isHead, upgrade: upgrade)
        var length: UInt64?
        if case .length(let value) = head.framing { length = value }
        let writer = client.loop.takeWriter()
        UpstreamRequest.head(
            for: head, route: route, token: token, peerAddress: client.peerAddress,
            clientAddress: client.clientAddress,
            requestID: client.currentRequestID,
            secure: client.isSecure, bodyLength: length, chunked: head.framing == .chunked, upgrade: upgrade,
            into: writer
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
        guard case .awaitingAnswer(let upstream, let token, _) = state, upstream === connection,
            !response.isInformational
        else {
            return
        }
        if response.switchesProtocols {
            startTunnel(response, connection: connection, token: token)
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
        client.upstreamToResume = connection
        // The upstream's Vary is merged with Origin below: only the Access-Control-* part is added after it.
        if let cors { client.extraAnswerFields = cors.accessControl }
        response.bytes.withUnsafeBytes { raw in
            let rules = HopByHop(raw, fields: response.fields)
            client.beginResponse(
                status: response.status, reason: UnsafeRawBufferPointer(rebasing: raw[response.reasonRange]),
                framing: framing
            ) { out in
                Self.writeUpstreamFields(of: response, raw, rules: rules, cors: cors != nil, to: &out)
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

    /// The upstream accepted the upgrade (the decoder lets a `101` through only then): the `101` goes to the client
    /// and both connections become a tunnel, bound to the token. Either both switch or both close.
    private func startTunnel(_ response: ResponseHead, connection: UpstreamConnection, token: VerifiedToken?) {
        client.disarmHandlerDeadline()
        client.record.upstreamStatus = response.status
        let tunnel = Tunnel(
            client: client, upstream: connection,
            policy: TunnelGuard(token: token, settings: settings.tunnels, metrics: settings.metrics))
        let cors = self.cors
        if let cors { client.extraAnswerFields = cors.accessControl }
        // The upstream joins first: a connection that cannot carry the tunnel closes both before any 101 is written.
        let switched =
            connection.joinTunnel(tunnel)
            && response.bytes.withUnsafeBytes { raw in
                let rules = HopByHop(raw, fields: response.fields)
                return client.switchProtocols(
                    reason: UnsafeRawBufferPointer(rebasing: raw[response.reasonRange]), tunnel: tunnel
                ) { out in
                    Self.writeUpstreamFields(of: response, raw, rules: rules, cors: cors != nil, to: &out)
                }
            }
        guard switched else {
            // The client is gone (or an answer already started), or the upstream cannot switch: nothing may stay
            // half upgraded.
            state = .finished
            connection.close()
            client.closeNow()
            return
        }
        state = .tunneling(tunnel)
        tunnel.start()
    }

    /// The upstream's fields as the client gets them, in every answer (a `101` too): hop-by-hop ones dropped; with
    /// the CORS policy, its Access-Control-* fields instead of the upstream's and Origin merged into Vary.
    private static func writeUpstreamFields(
        of response: ResponseHead, _ raw: UnsafeRawBufferPointer, rules: HopByHop, cors: Bool, to out: inout HeadWriter
    ) {
        for field in response.fields {
            guard rules.disposition(of: field.name, in: raw, going: .toClient) == .copy else { continue }
            if cors && CORSPolicy.replacesUpstreamField(field.name, in: raw) { continue }
            out.field(
                name: UnsafeRawBufferPointer(rebasing: raw[field.name]),
                value: UnsafeRawBufferPointer(rebasing: raw[field.value]))
        }
        if cors { out.varyField(merging: raw, fields: response.fields, adding: "Origin") }
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
        if requestBody == .receiving || upgrade {
            // The upstream answered before the request body ended: the connection is mid-request. Or it declined an
            // upgrade: it was asked to switch protocols, and is not trusted with another request.
            connection.close()
        } else {
            pool.giveBack(connection)
        }
        client.endResponse()
    }

    func upstreamFailed(_ reason: String, beforeAnswer: Bool, connection: UpstreamConnection) {
        guard upstream === connection else { return }
        // A kept-alive connection the upstream had closed: retry once, for requests safe to repeat.
        // A request without a body (whose `requestBody` is `.ended` once its head was read) can go again whole.
        if case .awaitingAnswer(_, let token, isRetry: false) = state, beforeAnswer, connection.reused,
            head.framing == .none, Self.idempotent.contains(head.method)
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
        case .authorizing, .answering, .tunneling, .finished: return
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
                "request_id": "\(client.currentRequestID.text)",
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
    let tunnels: TunnelSettings
}
