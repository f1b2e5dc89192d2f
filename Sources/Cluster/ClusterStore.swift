package import Cryptography
package import Dispatch
package import Endpoints
import Redis
import Synchronization

/// The state several instances share through Redis (SPEC.md "Several instances"): the sign-in rate limit, one
/// script round-trip per attempt, and revocations, written with their remaining time as TTL, published to every
/// instance, and written back then loaded whole on every (re)connect. Two connections: one for commands, one
/// subscribed to the revocations' channel (a subscribed RESP2 connection takes no other command).
///
/// Everything runs on `queue`, a queue of its own: nothing here ever runs on, or blocks, an event loop. Callers
/// that must not wait (the per-request revocation check) never call in; the limiter is answered within its
/// budget or told Redis is unavailable at once while the link is down.
package final class ClusterStore: @unchecked Sendable {
    // @unchecked: every mutable field but `linkIsUp` (an atomic) is touched on `queue` only.

    package struct Configuration: Sendable {
        package var url: RedisURL
        package var keyPrefix: String
        package var password: String?
        /// For `rediss://`: the system's CAs (SSL_CERT_FILE overrides them).
        package var tls: TLSClientContext?

        package init(url: RedisURL, keyPrefix: String, password: String?, tls: TLSClientContext?) {
            self.url = url
            self.keyPrefix = keyPrefix
            self.password = password
            self.tls = tls
        }
    }

    /// What the store reports to metrics and logs.
    package enum Event: Sendable {
        /// One command's round-trip: "ok", "error" (a refusal, a reply that makes no sense, a broken
        /// connection) or "timeout".
        case roundTrip(result: String)
        case linkUp
        case linkDown(reason: String)
    }

    package enum RateAnswer: Sendable, Equatable {
        case allowed
        case wait(seconds: Int)
        /// No answer from Redis within the budget, or the link is down: the caller's local limiter decides.
        case unavailable
    }

    /// SPEC.md: a round-trip slower than this is a Redis that is not there.
    package static let roundTripBudget: UInt64 = 250_000_000
    /// Connecting, with TLS, gets a little more.
    package static let connectBudget: UInt64 = 1_000_000_000
    static let scanCount = "1000"
    /// A Redis whose SCAN never comes back to cursor 0 must not hold the link in `syncing` forever.
    static let maxScanPages = 100_000
    static let writeBackBatch = 256

    package let queue = DispatchQueue(label: "authgate.cluster")
    private let configuration: Configuration
    let keys: ClusterKeys
    let snapshot: @Sendable () -> [RevocationRecord]
    let received: @Sendable ([RevocationRecord]) -> Void
    private let observe: @Sendable (Event) -> Void
    let wallClock: @Sendable () -> Int
    var link = ClusterLink()
    /// Each connect starts a session; callbacks of an older one are ignored.
    var session = 0
    var commands: RedisConnection?
    private var subscriber: RedisConnection?
    private var hashes: [ClusterScript: [UInt8]] = [:]
    private let linkIsUp = Atomic<Bool>(false)

    /// `snapshot` gives the revocations this instance holds (written back on reconnect); `received` takes those
    /// the others wrote (loaded or published); `wallClock` is seconds since 1970.
    package init(
        _ configuration: Configuration, snapshot: @escaping @Sendable () -> [RevocationRecord],
        received: @escaping @Sendable ([RevocationRecord]) -> Void,
        observe: @escaping @Sendable (Event) -> Void, wallClock: @escaping @Sendable () -> Int
    ) {
        self.configuration = configuration
        self.keys = ClusterKeys(prefix: configuration.keyPrefix)
        self.snapshot = snapshot
        self.received = received
        self.observe = observe
        self.wallClock = wallClock
    }

    /// Whether Redis is connected and in step ("ok"), else the store is "degraded". Read from any thread.
    package var isUp: Bool { linkIsUp.load(ordering: .acquiring) }

    package func start() {
        queue.async { self.perform(self.link.start()) }
    }

    package func stop() {
        queue.sync { self.perform(self.link.stop()) }
    }

    /// One sign-in attempt of `address` against the shared limit `count` per `periodNanoseconds`. `done` runs
    /// on `queue`, once, within the round-trip budget (or at once while the link is down).
    package func takeAttempt(
        _ address: String, count: Int, periodNanoseconds: UInt64, _ done: @escaping @Sendable (RateAnswer) -> Void
    ) {
        queue.async { [self] in
            guard link.isUp, let commands else {
                done(.unavailable)
                return
            }
            let period = String(max(1, periodNanoseconds / 1_000_000))
            evaluate(.rateLimit, key: keys.rateLimit(address), [String(count), period], on: commands) { result in
                guard case .success(.integer(let wait)) = result, wait >= 0 else {
                    done(.unavailable)
                    return
                }
                done(wait == 0 ? .allowed : .wait(seconds: Int(clamping: wait)))
            }
        }
    }

    /// Writes a revocation made here to Redis and publishes it. While the link is down it is not queued: the
    /// write-back of the next connect carries it (with what else this instance holds). While syncing it is sent
    /// at once: the write-back's snapshot may have been taken before it.
    package func publish(_ record: RevocationRecord) {
        queue.async { [self] in
            guard link.isUp || link.state == .syncing, let commands else { return }
            writeRevocation(record, on: commands) { _ in }
        }
    }

    // MARK: The link

    func perform(_ action: ClusterLink.Action) {
        dispatchPrecondition(condition: .onQueue(queue))
        switch action {
        case .connect: connect()
        case .sync: sync(session: session)
        case .reportUp:
            linkIsUp.store(true, ordering: .releasing)
            observe(.linkUp)
            heartbeat(session: session)
        case .closeAndRetry(let delay):
            closeConnections()
            let retrying = session
            queue.asyncAfter(deadline: .now() + .nanoseconds(Int(delay))) { [self] in
                guard session == retrying else { return }
                perform(link.retryDue())
            }
        case .close:
            closeConnections()
        case .none:
            return
        }
    }

    /// Any failure of the current session: the link goes down and tries again after its back-off.
    func fail(_ reason: String, session failed: Int) {
        guard failed == session else { return }
        let action = link.failed()
        guard action != .none else { return }
        linkIsUp.store(false, ordering: .releasing)
        observe(.linkDown(reason: reason))
        perform(action)
    }

    private func closeConnections() {
        linkIsUp.store(false, ordering: .releasing)
        session += 1
        commands?.close()
        subscriber?.close()
        commands = nil
        subscriber = nil
    }

    private func connect() {
        session += 1
        let current = session
        var opened = 0
        let bothOpen = { [self] in
            opened += 1
            if opened == 2 && current == session { perform(link.connected()) }
        }
        var setup = [RedisCommand]()
        for script in ClusterScript.allCases { setup.append(RedisCommand("SCRIPT", "LOAD", script.source)) }
        let (commandConnection, startCommands) = prepare(setup: setup, session: current) { [self] replies in
            for (script, reply) in zip(ClusterScript.allCases, replies) {
                guard let hash = reply.bytes, hash.count == 40, hash.allSatisfy(Self.isHexDigit) else {
                    fail("SCRIPT LOAD answered \(reply)", session: current)
                    return
                }
                hashes[script] = hash
            }
            bothOpen()
        }
        let subscribe = RedisCommand([Array("SUBSCRIBE".utf8), keys.channel])
        let (listener, startListener) = prepare(setup: [subscribe], session: current) { [self] replies in
            guard let confirmation = replies.first?.elements, confirmation.first?.text == "subscribe" else {
                fail("SUBSCRIBE answered \(replies.first.map { "\($0)" } ?? "nothing")", session: current)
                return
            }
            bothOpen()
        }
        listener.isSubscriber = true
        listener.onPush = { [self] reply in deliver(reply, session: current) }
        // Both held before either starts: a connect that fails at once (a missing unix socket) closes both.
        commands = commandConnection
        subscriber = listener
        startCommands()
        guard current == session else { return }
        startListener()
    }

    /// A connection and what opens it: connect, then AUTH, SELECT and `setup`; `ready` gets the replies to `setup`.
    private func prepare(setup: [RedisCommand], session current: Int, ready: @escaping ([RedisReply]) -> Void)
        -> (RedisConnection, () -> Void)
    {
        let connection = RedisConnection(url: configuration.url, tls: configuration.tls, queue: queue)
        connection.onClose = { [self] error in fail(error.description, session: current) }
        var prelude: [RedisCommand] = []
        if let password = configuration.password { prelude.append(RedisCommand("AUTH", password)) }
        if configuration.url.database != 0 {
            prelude.append(RedisCommand("SELECT", String(configuration.url.database)))
        }
        let start = { [self] in
            connection.open(budgetNanoseconds: Self.connectBudget) { [self] error in
                guard current == session else { return }
                if let error {
                    fail(error.description, session: current)
                    return
                }
                let all = prelude + setup
                var replies: [RedisReply] = []
                for command in all {
                    roundTrip(command, on: connection) { [self] result in
                        guard current == session else { return }
                        guard case .success(let reply) = result else { return }  // onClose reports the failure
                        if reply.errorKind != nil {
                            // Never the reply to AUTH as such: it names no secret, but the command is the password's.
                            fail("\(command.name) was refused: \(reply.errorKind ?? "")", session: current)
                            return
                        }
                        replies.append(reply)
                        if replies.count == all.count { ready(Array(replies.dropFirst(prelude.count))) }
                    }
                }
            }
        }
        return (connection, start)
    }

    /// A message of the revocations' channel: another instance's revocation (or one's own, echoed: harmless).
    private func deliver(_ reply: RedisReply, session current: Int) {
        guard current == session, let parts = reply.elements, parts.count == 3, parts[1].bytes == keys.channel,
            let payload = parts[2].bytes, let record = RevocationRecord.message(payload)
        else { return }
        received([record])
    }

    /// A PING every `heartbeatInterval` while up: a Redis that stopped answering (or sleeps) is found even when no
    /// sign-in asks, and `/readyz` says so.
    private func heartbeat(session current: Int) {
        queue.asyncAfter(deadline: .now() + Self.heartbeatInterval) { [self] in
            guard current == session, link.isUp, let commands else { return }
            roundTrip(RedisCommand("PING"), on: commands) { [self] _ in heartbeat(session: current) }
        }
    }

    static let heartbeatInterval = DispatchTimeInterval.seconds(1)

    // MARK: Round-trips

    func writeRevocation(
        _ record: RevocationRecord, on connection: RedisConnection, _ done: @escaping (Bool) -> Void
    ) {
        let arguments = [
            String(record.revokedAt), String(record.expiresAt), String(wallClock()),
            String(decoding: keys.channel, as: UTF8.self), record.sub,
        ]
        evaluate(.revoke, key: keys.revoked(record.sub), arguments, on: connection) { result in
            guard case .success(.integer) = result else {
                done(false)
                return
            }
            done(true)
        }
    }

    /// EVALSHA, and EVAL when the server does not know the script (NOSCRIPT).
    private func evaluate(
        _ script: ClusterScript, key: [UInt8], _ arguments: [String], on connection: RedisConnection,
        _ done: @escaping (Result<RedisReply, RedisError>) -> Void
    ) {
        let tail = [Array("1".utf8), key] + arguments.map { Array($0.utf8) }
        let byValue = { [self] in
            roundTrip(RedisCommand([Array("EVAL".utf8), Array(script.source.utf8)] + tail), on: connection, done)
        }
        guard let hash = hashes[script] else {
            byValue()
            return
        }
        roundTrip(RedisCommand([Array("EVALSHA".utf8), hash] + tail), on: connection) { result in
            if case .success(let reply) = result, reply.errorKind == "NOSCRIPT" {
                byValue()
            } else {
                done(result)
            }
        }
    }

    /// Every command goes through here: one budget, one count by result.
    func roundTrip(
        _ command: RedisCommand, on connection: RedisConnection,
        _ done: @escaping (Result<RedisReply, RedisError>) -> Void
    ) {
        connection.send(command, budgetNanoseconds: Self.roundTripBudget) { [observe] result in
            switch result {
            case .success(let reply): observe(.roundTrip(result: reply.errorKind == nil ? "ok" : "error"))
            case .failure(let error): observe(.roundTrip(result: error.code == .timeout ? "timeout" : "error"))
            }
            done(result)
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
    }
}
