package import Cryptography
package import HTTP1
import Synchronization

/// Answers requests. Called on the connection's loop with a validated head; it must eventually answer
/// through the connection (now or later, on the same loop).
package protocol RequestHandler: AnyObject, Sendable {
    func handle(_ head: RequestHead, connection: ClientConnection)
}

/// Receives a request body as it arrives. The slices are valid only during the call.
package protocol RequestBodyConsumer: AnyObject {
    func bodyBytes(_ bytes: UnsafeRawBufferPointer, connection: ClientConnection)
    func bodyEnded(connection: ClientConnection)
    /// The client went away or sent a malformed body: stop using the connection.
    func connectionAborted(connection: ClientConnection)
}

/// Sees every finished exchange (answered or refused): the access log and metrics live behind it.
/// What a handler arms a deadline for (`ClientConnection.armHandlerDeadline`): the connection holds it until the
/// exchange ends and tells it once if the time passes first.
package protocol HandlerDeadlineObserver: AnyObject {
    func handlerDeadlinePassed()
}

package protocol ExchangeObserver: AnyObject, Sendable {
    func exchangeFinished(_ record: AccessRecord, loop: EventLoop)
}

/// What the access log records of one exchange.
package struct AccessRecord: Sendable {
    package var requestID = RequestID()
    package var client = ""
    package var method = ""
    package var path = ""
    package var route = ""
    package var status = 0
    package var bytesSent = 0
    package var durationNanoseconds: UInt64 = 0
    package var upstreamStatus: Int?
    package var subject: String?
    /// "ok", "none", or why authorization failed, or why the request was refused.
    package var authorization = ""

    package init() {}
}

/// Timeouts of the client side, in nanoseconds; 0 disables one.
package struct ConnectionTimeouts: Sendable {
    package var head: UInt64
    package var idle: UInt64
    /// How long a refused client may keep sending before the socket is closed (nginx's lingering_timeout).
    package var linger: UInt64

    package init(head: UInt64, idle: UInt64, linger: UInt64 = 2_000_000_000) {
        self.head = head
        self.idle = idle
        self.linger = linger
    }
}

/// The open-connection budget shared by every loop of one server.
package final class ConnectionLimiter: Sendable {
    private let currentLimit: Atomic<Int>
    private let open = Atomic<Int>(0)

    package init(limit: Int) {
        currentLimit = Atomic(limit)
    }

    /// A reload may change the limit: connections above a lowered one stay, new ones wait for room.
    package var limit: Int {
        get { currentLimit.load(ordering: .relaxed) }
        set { currentLimit.store(newValue, ordering: .relaxed) }
    }

    package var openConnections: Int { open.load(ordering: .relaxed) }

    func tryAcquire() -> Bool {
        if open.add(1, ordering: .relaxed).newValue > limit {
            open.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func release() {
        open.subtract(1, ordering: .relaxed)
    }
}

/// Which of authgate's two sides a listener serves (SPEC.md: the admin endpoints are never on a public listener).
package enum ListenerKind: Sendable, Equatable {
    /// Routes and /signin, for the world.
    case `public`
    /// Health, readiness, metrics and revocation, for the operator.
    case admin
}

/// Everything a listener's connections share.
package struct ServerContext: Sendable {
    package let kind: ListenerKind
    package let handler: any RequestHandler
    package let observer: any ExchangeObserver
    package let limits: HTTPLimits
    package let timeouts: ConnectionTimeouts
    package let limiter: ConnectionLimiter
    /// Set when the listener speaks HTTPS: every connection starts with a TLS handshake.
    package let tls: TLSServerContext?

    package init(
        kind: ListenerKind,
        handler: any RequestHandler,
        observer: any ExchangeObserver,
        limits: HTTPLimits,
        timeouts: ConnectionTimeouts,
        limiter: ConnectionLimiter,
        tls: TLSServerContext? = nil
    ) {
        self.kind = kind
        self.handler = handler
        self.observer = observer
        self.limits = limits
        self.timeouts = timeouts
        self.limiter = limiter
        self.tls = tls
    }
}
