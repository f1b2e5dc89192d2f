import Cryptography
import Dispatch
import EventLoop
import HTTP1
import JWT
import Logging

/// Loop-confined (`@unchecked Sendable` only to travel back to its loop after authorization).
/// One request on its way to an upstream and its answer on the way back, both streamed: the request body
/// waits (bounded) until the request is authorized and the upstream connected; each side pauses the other
/// when it cannot keep up.
final class ProxyExchange: RequestBodyConsumer, UpstreamConnectionDelegate, @unchecked Sendable {
    let client: ClientConnection
    let head: RequestHead
    let route: RouteSettings
    let pool: UpstreamPool
    let tls: (context: TLSClientContext, host: String)?
    let settings: ProxySettings
    let logger: Logger

    private var token: VerifiedToken?
    private var upstream: UpstreamConnection?
    private var upstreamReady = false
    private var pendingBody: [UInt8] = []
    private var clientBodyEnded = false
    private var finished = false
    private var retried = false
    private var answerStarted = false

    /// Request body held while the upstream connection opens; past this, reading from the client pauses.
    static let maxPendingBody = 256 * 1024
    /// Held before the request is authorized (a JWKS re-fetch may be under way): an unauthenticated client
    /// must not make the gateway hold much for it.
    static let maxPendingBodyUnauthorized = 16 * 1024
    private var authorized = false

    init(
        client: ClientConnection, head: RequestHead, route: RouteSettings, pool: UpstreamPool,
        tls: (context: TLSClientContext, host: String)?, settings: ProxySettings, logger: Logger
    ) {
        self.client = client
        self.head = head
        self.route = route
        self.pool = pool
        self.tls = tls
        self.settings = settings
        self.logger = logger
    }

    private var hasBody: Bool { head.framing != .none }

    // MARK: Decision

    /// Authorization passed (or the route needs none): connect and send.
    func proceed(token: VerifiedToken?) {
        guard !finished else { return }
        self.token = token
        authorized = true
        connect()
    }

    /// The request was refused; its answer was written by the handler.
    func abandon() {
        finished = true
        pendingBody = []
    }

    private func connect() {
        let connection: UpstreamConnection
        if let idle = pool.takeIdle() {
            connection = idle
            connection.delegate = self
            upstream = connection
            upstreamConnected(connection)
            return
        }
        do {
            connection = try UpstreamConnection(
                loop: client.loop, address: pool.address, limits: settings.responseLimits, tls: tls)
        } catch {
            fail("cannot open a socket: \(error)", status: .badGateway)
            return
        }
        connection.delegate = self
        upstream = connection
        connection.connect()
    }

    // MARK: Client side

    func bodyBytes(_ bytes: UnsafeRawBufferPointer, connection: ClientConnection) {
        guard !finished else { return }
        if upstreamReady, let upstream {
            upstream.send(frame(bytes))
            if upstream.hasPendingOutput { client.pauseReading(true) }
        } else {
            pendingBody.append(contentsOf: frame(bytes))
            let limit = authorized ? Self.maxPendingBody : Self.maxPendingBodyUnauthorized
            if pendingBody.count > limit { client.pauseReading(true) }
        }
    }

    func bodyEnded(connection: ClientConnection) {
        clientBodyEnded = true
        guard !finished else { return }
        if head.framing == .chunked {
            let terminator = Array("0\r\n\r\n".utf8)
            if upstreamReady, let upstream { upstream.send(terminator) } else { pendingBody += terminator }
        }
    }

    func connectionAborted(connection: ClientConnection) {
        finished = true
        upstream?.close()
        upstream = nil
    }

    private func frame(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        guard head.framing == .chunked else { return Array(bytes) }
        var out = Array(String(bytes.count, radix: 16).utf8)
        out += [13, 10]
        out += bytes
        out += [13, 10]
        return out
    }

    // MARK: Upstream side

    func upstreamConnected(_ connection: UpstreamConnection) {
        guard !finished else { return }
        upstreamReady = true
        connection.startRequest(isHead: head.isHead)
        var length: UInt64?
        if case .length(let value) = head.framing { length = value }
        connection.send(
            UpstreamRequest.head(
                for: head, route: route, token: token, clientAddress: client.clientAddress,
                requestID: client.currentRequestID,
                secure: client.isSecure, bodyLength: length, chunked: head.framing == .chunked
            ))
        if !pendingBody.isEmpty {
            connection.send(pendingBody)
            pendingBody = []
        }
        if hasBody && !clientBodyEnded { client.continueIfExpected() }
        client.pauseReading(connection.hasPendingOutput)
        armTimeout()
    }

    func upstreamDrained(connection: UpstreamConnection) {
        if !finished { client.pauseReading(false) }
    }

    func upstreamHead(_ response: ResponseHead, connection: UpstreamConnection) {
        guard !finished, !response.isInformational else { return }
        client.disarmHandlerDeadline()
        answerStarted = true
        client.record.upstreamStatus = response.status
        let removed = HopByHop.namesToRemove(bytes: response.bytes, fields: response.fields)
        var headers: [(String, String)] = []
        response.bytes.withUnsafeBytes { raw in
            for field in response.fields {
                let name = String(decoding: raw[field.name], as: UTF8.self)
                let lower = name.lowercased()
                if removed.contains(lower) || lower == "content-length" || lower == "x-request-id" || lower == "date" {
                    continue
                }
                headers.append((name, String(decoding: raw[field.value], as: UTF8.self)))
            }
        }
        let framing: ClientConnection.StreamFraming
        switch response.framing {
        case .none:
            framing = .none
            // A HEAD answer tells the length of what GET would send; 204 and 304 carry none.
            if head.isHead, let length = response.firstValue("content-length") {
                headers.append(("Content-Length", length))
            } else if response.status != 204 && response.status != 304 && !head.isHead {
                headers.append(("Content-Length", "0"))
            }
        case .length(let length): framing = .length(length)
        case .chunked, .untilClose: framing = .unknownLength
        }
        client.onOutputDrained = { [weak connection] in connection?.setReading(true) }
        client.beginResponse(status: response.status, reason: response.reason, headers: headers, framing: framing)
    }

    func upstreamBody(_ bytes: UnsafeRawBufferPointer, connection: UpstreamConnection) {
        guard !finished else { return }
        client.sendBody(bytes)
        // A slow client pauses the upstream instead of filling memory.
        if client.hasPendingOutput { connection.setReading(false) }
    }

    func upstreamEnd(connection: UpstreamConnection) {
        guard !finished else { return }
        finished = true
        upstream = nil
        if clientBodyEnded || !hasBody {
            pool.giveBack(connection)
        } else {
            connection.close()
        }
        client.endResponse()
    }

    func upstreamFailed(_ reason: String, beforeAnswer: Bool, connection: UpstreamConnection) {
        guard !finished else { return }
        upstream = nil
        upstreamReady = false
        // A kept-alive connection the upstream had closed: retry once, for requests safe to repeat.
        if beforeAnswer && connection.reused && !retried && !hasBody && Self.idempotent.contains(head.method) {
            retried = true
            client.disarmHandlerDeadline()
            connect()
            return
        }
        fail(reason, status: .badGateway)
    }

    private static let idempotent: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]

    private func armTimeout() {
        client.armHandlerDeadline(after: settings.upstreamTimeout) { [weak self] in
            guard let self, !self.finished, !self.answerStarted else { return }
            self.fail("no answer head within upstream_timeout", status: .gatewayTimeout)
        }
    }

    private func fail(_ reason: String, status: HTTPStatus) {
        finished = true
        client.disarmHandlerDeadline()
        upstream?.close()
        upstream = nil
        logger.warning(
            "upstream failed",
            metadata: [
                "route": "\(route.prefix)", "upstream": "\(pool.address)", "cause": "\(reason)",
                "request_id": "\(client.currentRequestID)",
            ]
        )
        let kind = status.code == HTTPStatus.gatewayTimeout.code ? "timeout" : "failed"
        settings.metrics.count(.upstreamErrors, Metrics.labels([("route", route.prefix), ("kind", kind)]))
        if client.hasStartedResponse {
            client.closeNow()
        } else {
            client.respondWithMessage(status, keepAlive: false)
        }
    }
}

/// What every exchange needs from the configuration.
struct ProxySettings: Sendable {
    let upstreamTimeout: UInt64
    let responseLimits: HTTPLimits
    let metrics: Metrics
}
