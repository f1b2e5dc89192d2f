import Dispatch
import Synchronization
import Time

/// The user pool's signing keys, fetched at start, refreshed every `refresh`, re-fetched (coalesced, rate
/// limited) when a token names an unknown kid. A failed or refused fetch keeps the keys held.
package final class JWKSCache: @unchecked Sendable {
    /// Fetches the JWKS document; reports the body or why there is none.
    package typealias Fetch = @Sendable (@escaping @Sendable (Result<[UInt8], JWKSFetchError>) -> Void) -> Void

    package struct JWKSFetchError: Error, Sendable, CustomStringConvertible {
        package let description: String
        package init(_ description: String) { self.description = description }
    }

    package enum Event: Sendable {
        case loaded(keyIDs: [String], skipped: [String])
        case failed(reason: String, retryInSeconds: Double, keysHeld: Int)
    }

    package struct Settings: Sendable {
        package var refreshSeconds: Double
        package var minRefetchSeconds: Double

        package init(refreshSeconds: Double, minRefetchSeconds: Double) {
            self.refreshSeconds = refreshSeconds
            self.minRefetchSeconds = minRefetchSeconds
        }
    }

    private struct State {
        var keys = JWKSet.empty
        var everLoaded = false
        var fetching = false
        var lastFetchStart = -Double.infinity
        var waiters: [@Sendable (JWKSet) -> Void] = []
        var firstLoadWaiters: [@Sendable () -> Void] = []
        var consecutiveFailures = 0
        var lastSuccessWallClock: Double?
        var stopped = false
        var started = false
    }

    /// Requests waiting for an unknown-kid fetch at once, at most; later ones are answered with the keys held.
    static let maxWaiters = 10_000

    private let state = Mutex(State())
    private let fetch: Fetch
    private let settings: Settings
    private let observer: @Sendable (Event) -> Void
    private let queue = DispatchQueue(label: "authgate.jwks")
    // Thread-safe: Dispatch sources may be scheduled from any thread. Everything else is behind `state`.
    private let timer: any DispatchSourceTimer

    package init(settings: Settings, fetch: @escaping Fetch, observer: @escaping @Sendable (Event) -> Void) {
        self.settings = settings
        self.fetch = fetch
        self.observer = observer
        timer = DispatchSource.makeTimerSource(queue: queue)
    }

    /// The keys held now (empty until the first successful fetch).
    package var keys: JWKSet { state.withLock { $0.keys } }

    package var everLoaded: Bool { state.withLock { $0.everLoaded } }

    /// Wall-clock seconds of the last successful fetch.
    package var lastSuccess: Double? { state.withLock { $0.lastSuccessWallClock } }

    /// Calls `then` once keys are first loaded: at once if they already are, else right after the fetch that
    /// loads them, on the thread that finished it (keep `then` short). Never, if no fetch ever succeeds: a caller
    /// that cannot wait forever keeps its own timer.
    package func whenFirstLoaded(_ then: @escaping @Sendable () -> Void) {
        let loaded = state.withLock { state in
            if !state.everLoaded { state.firstLoadWaiters.append(then) }
            return state.everLoaded
        }
        if loaded { then() }
    }

    /// Whether `start` was called.
    package var isStarted: Bool { state.withLock { $0.started } }

    /// Fetches now and keeps the keys fresh from then on. Once only; never after `stop`.
    package func start() {
        let first = state.withLock { state in
            guard !state.started, !state.stopped else { return false }
            state.started = true
            return true
        }
        guard first else { return }
        timer.setEventHandler { [weak self] in self?.beginFetch(waiter: nil) }
        timer.schedule(deadline: .distantFuture)
        timer.resume()
        beginFetch(waiter: nil)
    }

    /// Stops refreshing (a reload replaced this cache). Requests still holding it keep its keys; a fetch in
    /// flight still answers its waiters but reports nothing, unless it was reporting already when `stop` was
    /// called: an observer must not count on silence after `stop` (the gateway reads the readiness of the caches
    /// in force only).
    package func stop() {
        let wasStarted = state.withLock { state in
            state.stopped = true
            return state.started
        }
        // A Dispatch source must not be released suspended: one never started is resumed (unscheduled) first.
        if !wasStarted { timer.resume() }
        timer.cancel()
    }

    deinit {
        if !state.withLock({ $0.started || $0.stopped }) { timer.resume() }
        timer.cancel()
    }

    /// A token named `keyID`, which the held keys lack: fetch again (at most once per `minRefetchSeconds`,
    /// one fetch for all who ask meanwhile) and call `then` with the keys after it, or at once if a fetch is
    /// not allowed yet.
    package func refetch(forUnknownKeyID keyID: String, then: @escaping @Sendable (JWKSet) -> Void) {
        let now = Double(SystemClock.monotonicNanoseconds()) / 1e9
        enum Decision {
            case answerNow(JWKSet)
            case waitForRunning, startFetch
        }
        let decision: Decision = state.withLock { state in
            if state.keys.keys[keyID] != nil { return .answerNow(state.keys) }
            if state.fetching {
                guard state.waiters.count < Self.maxWaiters else { return .answerNow(state.keys) }
                state.waiters.append(then)
                return .waitForRunning
            }
            guard now - state.lastFetchStart >= settings.minRefetchSeconds else { return .answerNow(state.keys) }
            return .startFetch
        }
        switch decision {
        case .answerNow(let keys): then(keys)
        case .waitForRunning: break
        case .startFetch: beginFetch(waiter: then)
        }
    }

    private func beginFetch(waiter: (@Sendable (JWKSet) -> Void)?) {
        let now = Double(SystemClock.monotonicNanoseconds()) / 1e9
        enum Start {
            case fetch, joined
            case stopped(JWKSet)
        }
        let start: Start = state.withLock { state in
            if state.stopped { return .stopped(state.keys) }
            if let waiter { state.waiters.append(waiter) }
            if state.fetching { return .joined }
            state.fetching = true
            state.lastFetchStart = now
            return .fetch
        }
        switch start {
        case .fetch: fetch { [self] result in self.finishFetch(result) }
        case .joined: break
        case .stopped(let keys): waiter?(keys)
        }
    }

    private func finishFetch(_ result: Result<[UInt8], JWKSFetchError>) {
        var event: Event
        var nextFetchIn: Double
        var parsed: (set: JWKSet, skipped: [String])?
        var failure: String?
        switch result {
        case .success(let body):
            do {
                parsed = try JWKSet.parse(body)
            } catch {
                failure = error.description
            }
        case .failure(let error):
            failure = error.description
        }
        var firstLoadWaiters: [@Sendable () -> Void] = []
        let (keys, waiters, failures, stopped): (JWKSet, [@Sendable (JWKSet) -> Void], Int, Bool) = state.withLock {
            state in
            if let parsed {
                if !state.everLoaded { swap(&firstLoadWaiters, &state.firstLoadWaiters) }
                state.keys = parsed.set
                state.everLoaded = true
                state.consecutiveFailures = 0
                state.lastSuccessWallClock = SystemClock.wallClockSeconds()
            } else {
                state.consecutiveFailures += 1
            }
            state.fetching = false
            let waiters = state.waiters
            state.waiters = []
            return (state.keys, waiters, state.consecutiveFailures, state.stopped)
        }
        for waiter in firstLoadWaiters { waiter() }
        guard !stopped else {
            for waiter in waiters { waiter(keys) }
            return
        }
        if let parsed {
            nextFetchIn = settings.refreshSeconds
            event = .loaded(keyIDs: parsed.set.keys.keys.sorted(), skipped: parsed.skipped)
        } else {
            // 1s, 2s, 4s… up to the refresh period (and five minutes): a down endpoint is not hammered.
            nextFetchIn = min(pow2(failures - 1), min(settings.refreshSeconds, 300))
            event = .failed(reason: failure ?? "unknown", retryInSeconds: nextFetchIn, keysHeld: keys.keys.count)
        }
        timer.schedule(deadline: .now() + .milliseconds(Int(nextFetchIn * 1000)))
        observer(event)
        for waiter in waiters { waiter(keys) }
    }

    private func pow2(_ exponent: Int) -> Double {
        Double(1 << min(max(exponent, 0), 20))
    }
}
