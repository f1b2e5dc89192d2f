import EventLoop
import Foundation
import JWT
import Synchronization

/// The counters behind `/metrics` (Prometheus text format 0.0.4). Every label value comes from a bounded
/// set: route prefixes from the configuration, status codes, and fixed reason names; never a raw path.
final class Metrics: ExchangeObserver, Sendable {
    /// Seconds; the usual spread for an HTTP proxy, from 1 ms to 10 s.
    static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// Requests and durations per loop: each loop writes only its own shard, so its lock is never contended
    /// on the request path; a scrape reads them all.
    private final class Shard: Sendable {
        struct Histogram {
            var buckets = [UInt64](repeating: 0, count: Metrics.durationBuckets.count)
            var count: UInt64 = 0
            var sum: Double = 0

            mutating func record(_ seconds: Double, bucket: Int?) {
                if let bucket { buckets[bucket] += 1 }
                count += 1
                sum += seconds
            }
        }
        /// One route's counts: its few statuses in a list (a scan of two or three beats hashing a key).
        struct RouteCounts {
            var statuses: [(status: Int, count: UInt64)] = []
            var durations = Histogram()
        }
        struct Counts {
            var slots: [String: Int] = [:]
            var routes: [RouteCounts] = []
            /// The route counted last and its slot: exchanges of one route mostly follow each other, and the
            /// route's prefix is then the same string, equal at the first comparison, with no hash taken.
            var last: (route: String, slot: Int)?

            mutating func record(route: String, status: Int, seconds: Double, bucket: Int?) {
                let slot: Int
                if let last, last.route == route {
                    slot = last.slot
                } else {
                    if let known = slots[route] {
                        slot = known
                    } else {
                        slot = routes.count
                        slots[route] = slot
                        routes.append(RouteCounts())
                    }
                    last = (route, slot)
                }
                // In place: a copy taken out and put back would copy the bucket array on every request.
                routes[slot].durations.record(seconds, bucket: bucket)
                if let index = routes[slot].statuses.firstIndex(where: { $0.status == status }) {
                    routes[slot].statuses[index].count += 1
                } else {
                    routes[slot].statuses.append((status, 1))
                }
            }
        }
        let counts = Mutex(Counts())
    }

    struct RequestKey: Hashable {
        let route: String
        let status: Int
    }

    private let shards: [Shard]
    private let events = Mutex<[String: [String: UInt64]]>([:])
    /// What the gauges read: the current generation's authorizer (its JWKS cache and token cache).
    private let authorizer = Mutex<Authorizer?>(nil)
    private let openConnections: @Sendable () -> Int
    private let heldRevocations: @Sendable () -> Int
    /// WebSocket tunnels open now, on every loop.
    private let openTunnels = Atomic<Int>(0)
    /// With `[cluster]`: whether Redis is connected and in step.
    private let clusterUp = Mutex<(@Sendable () -> Bool)?>(nil)

    init(
        loops: Int, openConnections: @escaping @Sendable () -> Int,
        heldRevocations: @escaping @Sendable () -> Int = { 0 }
    ) {
        shards = (0..<loops).map { _ in Shard() }
        self.openConnections = openConnections
        self.heldRevocations = heldRevocations
    }

    func use(clusterUp: @escaping @Sendable () -> Bool) {
        self.clusterUp.withLock { $0 = clusterUp }
    }

    func use(_ authorizer: Authorizer) {
        self.authorizer.withLock { $0 = authorizer }
    }

    // MARK: Recording

    func exchangeFinished(_ record: AccessRecord, loop: EventLoop) {
        let route = record.route.isEmpty ? "none" : record.route
        let seconds = Double(record.durationNanoseconds) / 1e9
        let bucket = Self.durationBuckets.firstIndex { seconds <= $0 }
        shards[loop.index].counts.withLock { counts in
            counts.record(route: route, status: record.status, seconds: seconds, bucket: bucket)
        }
    }

    func tunnelOpened() {
        openTunnels.add(1, ordering: .relaxed)
    }

    func tunnelClosed(_ reason: TunnelCloseReason) {
        openTunnels.subtract(1, ordering: .relaxed)
        count(.websocketTunnelsClosed, Self.labels([("reason", reason.rawValue)]))
    }

    /// One event of a family (authorization failures, upstream errors, JWKS refreshes, sign-ins) with its labels.
    func count(_ family: Family, _ labels: String) {
        events.withLock { $0[family.rawValue, default: [:]][labels, default: 0] += 1 }
    }

    enum Family: String, CaseIterable {
        case authorizationFailures = "authorization_failures_total"
        case upstreamErrors = "upstream_errors_total"
        case jwksRefreshes = "jwks_refreshes_total"
        case signins = "signins_total"
        case refreshes = "refreshes_total"
        case cognitoRetries = "cognito_retries_total"
        case signouts = "signouts_total"
        case redisRoundtrips = "redis_roundtrips_total"
        case signinRateLimits = "signin_rate_limit_decisions_total"
        case websocketTunnelsClosed = "websocket_tunnels_closed_total"

        var help: String {
            switch self {
            case .authorizationFailures: return "Requests refused by the authorizer, by reason."
            case .upstreamErrors:
                return "Upstream exchanges that failed, by route prefix and kind (failed: 502, timeout: 504)."
            case .jwksRefreshes: return "JWKS fetches, by user pool and result."
            case .signins: return "POST /signin attempts, by result."
            case .refreshes: return "POST /refresh attempts, by result."
            case .cognitoRetries: return "Cognito calls tried again after a transient failure, by operation."
            case .signouts: return "POST /signout attempts, by result."
            case .redisRoundtrips: return "Redis commands of [cluster], by result (ok, error, timeout)."
            case .signinRateLimits:
                return
                    "Sign-in rate-limit decisions, by who decided (redis, or local when Redis did not answer in time)."
            case .websocketTunnelsClosed: return "WebSocket tunnels closed, by reason."
            }
        }
    }

    static func labels(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
    }

    /// Label values escape backslash, double quote and newline (the text format's rules).
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    // MARK: Exposition

    func render() -> String {
        var requests: [RequestKey: UInt64] = [:]
        var durations: [String: Shard.Histogram] = [:]
        for shard in shards {
            shard.counts.withLock { counts in
                for (route, slot) in counts.slots {
                    let histogram = counts.routes[slot].durations
                    for (status, count) in counts.routes[slot].statuses {
                        requests[RequestKey(route: route, status: status), default: 0] += count
                    }
                    var merged = durations[route] ?? Shard.Histogram()
                    for index in merged.buckets.indices { merged.buckets[index] += histogram.buckets[index] }
                    merged.count += histogram.count
                    merged.sum += histogram.sum
                    durations[route] = merged
                }
            }
        }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP authgate_\(name) \(help)\n# TYPE authgate_\(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: String, _ value: String) {
            out += labels.isEmpty ? "authgate_\(name) \(value)\n" : "authgate_\(name){\(labels)} \(value)\n"
        }

        family("requests_total", "counter", "Requests answered on the public listeners, by route prefix and status.")
        for (key, value) in requests.sorted(by: { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }) {
            sample(
                "requests_total", Self.labels([("route", key.route), ("status", String(key.status))]), String(value))
        }
        family(
            "request_duration_seconds", "histogram",
            "Time from the request head to the end of the answer, by route prefix.")
        for (route, histogram) in durations.sorted(by: { $0.key < $1.key }) {
            var cumulative: UInt64 = 0
            for (index, bound) in Self.durationBuckets.enumerated() {
                cumulative += histogram.buckets[index]
                sample(
                    "request_duration_seconds_bucket", Self.labels([("route", route), ("le", Self.number(bound))]),
                    String(cumulative))
            }
            sample(
                "request_duration_seconds_bucket", Self.labels([("route", route), ("le", "+Inf")]),
                String(histogram.count))
            sample("request_duration_seconds_sum", Self.labels([("route", route)]), Self.number(histogram.sum))
            sample("request_duration_seconds_count", Self.labels([("route", route)]), String(histogram.count))
        }
        let counted = events.withLock { $0 }
        for kind in Family.allCases {
            family(kind.rawValue, "counter", kind.help)
            for (labels, value) in (counted[kind.rawValue] ?? [:]).sorted(by: { $0.key < $1.key }) {
                sample(kind.rawValue, labels, String(value))
            }
        }
        family("open_connections", "gauge", "Client connections open on the public listeners.")
        sample("open_connections", "", String(openConnections()))
        family("websocket_tunnels_open", "gauge", "WebSocket tunnels open (upgraded connections).")
        sample("websocket_tunnels_open", "", String(openTunnels.load(ordering: .relaxed)))
        family("revocations", "gauge", "Subs revoked at the gateway (sign-outs, /revoke) whose revocation is kept.")
        sample("revocations", "", String(heldRevocations()))
        if let clusterUp = clusterUp.withLock({ $0 }) {
            family("redis_connected", "gauge", "1 while Redis ([cluster]) is connected and in step, else 0 (degraded).")
            sample("redis_connected", "", clusterUp() ? "1" : "0")
        }
        if let authorizer = authorizer.withLock({ $0 }) {
            family("jwks_keys", "gauge", "Signing keys held, by user pool.")
            for pool in authorizer.pools {
                sample("jwks_keys", Self.labels([("pool", pool.userPoolID)]), String(pool.jwks.keys.keys.count))
            }
            family(
                "jwks_last_success_timestamp_seconds", "gauge",
                "Unix time of the last successful JWKS fetch, by user pool (0: never).")
            for pool in authorizer.pools {
                sample(
                    "jwks_last_success_timestamp_seconds", Self.labels([("pool", pool.userPoolID)]),
                    Self.number(pool.jwks.lastSuccess ?? 0))
            }
            let cache = authorizer.cache.hitsAndMisses
            family("token_cache_hits_total", "counter", "Tokens found in the verified-token cache.")
            sample("token_cache_hits_total", "", String(cache.hits))
            family("token_cache_misses_total", "counter", "Tokens verified because the cache did not hold them.")
            sample("token_cache_misses_total", "", String(cache.misses))
        }
        return out
    }

    /// Prometheus floats: integers without a fraction, the rest as Swift prints them.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
