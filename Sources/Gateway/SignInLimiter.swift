import Cluster
import EventLoop
import Time

/// The sign-in rate limit the sign-in paths ask (one bucket per client address, whichever path): with
/// `[cluster]`, Redis's shared bucket in one script round-trip within its 250 ms budget; without it, or when Redis
/// does not answer in time or the link is down, this process's own `RateLimiter`. The local buckets count only the
/// attempts they decide, so a Redis outage starts them full (the shared limit held until then).
final class SignInLimiter: Sendable {
    let limit: RateLimit
    let local: RateLimiter
    let cluster: ClusterStore?
    let metrics: Metrics

    init(_ limit: RateLimit, cluster: ClusterStore?, metrics: Metrics) {
        self.limit = limit
        self.local = RateLimiter(limit)
        self.cluster = cluster
        self.metrics = metrics
    }

    /// Takes one attempt of `address`; `done` runs on `loop` with nil (allowed) or the whole seconds to wait.
    /// Without a cluster it runs before this returns.
    func take(_ address: String, on loop: EventLoop, _ done: @escaping @Sendable (Int?) -> Void) {
        guard let cluster else {
            done(local.take(address, now: SystemClock.monotonicNanoseconds()))
            return
        }
        cluster.takeAttempt(address, count: limit.count, periodNanoseconds: limit.period) { [self] answer in
            let wait: Int?
            switch answer {
            case .allowed:
                wait = nil
            case .wait(let seconds):
                wait = seconds
            case .unavailable:
                wait = local.take(address, now: SystemClock.monotonicNanoseconds())
            }
            metrics.count(.signinRateLimits, Metrics.labels([("source", answer == .unavailable ? "local" : "redis")]))
            loop.execute { done(wait) }
        }
    }
}

/// One sign-in attempt's two answers, which may come in either order: the limiter's and the body's. Refused by
/// the limiter: 429 at once, whatever the body; allowed: the body's outcome once it is in. Decides once.
/// Confined to the connection's loop (the limiter calls back there).
final class SignInAdmission: @unchecked Sendable {
    enum Decision {
        case rateLimited(retryAfterSeconds: Int)
        case bodyTooLarge
        case body([UInt8])
    }

    private enum Limit {
        case waiting
        case allowed
    }

    private var limit = Limit.waiting
    private var body: BodyCollector.Outcome?
    private var decide: ((Decision) -> Void)?

    init(_ decide: @escaping (Decision) -> Void) {
        self.decide = decide
    }

    var isDecided: Bool { decide == nil }

    func limiterAnswered(_ retryAfter: Int?) {
        if let retryAfter {
            finish(.rateLimited(retryAfterSeconds: retryAfter))
            return
        }
        limit = .allowed
        proceed()
    }

    func bodyEnded(_ outcome: BodyCollector.Outcome) {
        body = outcome
        proceed()
    }

    private func proceed() {
        guard case .allowed = limit, let body else { return }
        switch body {
        case .tooLarge: finish(.bodyTooLarge)
        case .complete(let bytes): finish(.body(bytes))
        }
    }

    private func finish(_ decision: Decision) {
        let decide = self.decide
        self.decide = nil
        body = nil
        decide?(decision)
    }
}
