import Endpoints
import HTTPClient
import JWT
import Logging
import Synchronization

/// Fetches the JWKS over the control-plane client and reports what happened to the log and readiness.
struct JWKSFetcher: Sendable {
    let client: ControlPlaneClient
    let url: HTTPURL

    /// A JWKS answer slower than this is a failed fetch; the keys held stay.
    static let timeoutMilliseconds = 10_000

    func fetch(_ completion: @escaping @Sendable (Result<[UInt8], JWKSCache.JWKSFetchError>) -> Void) {
        let request = ControlRequest(
            url: url.description, headers: [("Accept", "application/json")],
            timeoutMilliseconds: Self.timeoutMilliseconds,
            maxResponseBytes: JWKSet.maxBytes
        )
        client.execute(request) { result in
            switch result {
            case .success(let response) where response.status == 200:
                completion(.success(response.body))
            case .success(let response):
                completion(.failure(JWKSCache.JWKSFetchError("HTTP status \(response.status)")))
            case .failure(let error):
                completion(.failure(JWKSCache.JWKSFetchError(error.description)))
            }
        }
    }

    /// Which pool's JWKS an event is about: its index in the authorizer, its id for logs, metrics and readiness.
    struct Source: Sendable {
        let pool: Int
        let userPoolID: String
        let url: HTTPURL
    }

    /// The readiness condition of one pool's keys: /readyz waits for every pool's.
    static func readinessCondition(userPoolID: String) -> String {
        "signing_keys:\(userPoolID)"
    }

    /// Logs and counts `event`, and sets `status`: the pool's own, which /readyz reads only while the authorizer
    /// holding it is in force (a cache a reload stopped may still report; nothing reads what it says).
    static func report(
        _ event: JWKSCache.Event,
        source: Source,
        logger: Logger,
        status: KeyStatus,
        cache: VerifiedTokenCache,
        metrics: Metrics
    ) {
        let url = source.url
        let pool = source.userPoolID
        switch event {
        case .loaded(let keyIDs, let skipped):
            metrics.count(.jwksRefreshes, Metrics.labels([("pool", pool), ("result", "success")]))
            for reason in skipped {
                logger.warning(
                    "jwks key skipped", metadata: ["pool": "\(pool)", "url": "\(url)", "reason": "\(reason)"])
            }
            logger.info(
                "jwks loaded",
                metadata: ["pool": "\(pool)", "url": "\(url)", "kids": "\(keyIDs.joined(separator: ","))"])
            cache.retainOnly(pool: source.pool, keyIDs: Set(keyIDs))
            status.reason = keyIDs.isEmpty ? "the JWKS holds no usable RS256 signing key" : nil
        case .failed(let reason, let retry, let held):
            metrics.count(.jwksRefreshes, Metrics.labels([("pool", pool), ("result", "failure")]))
            logger.warning(
                "jwks fetch failed",
                metadata: [
                    "pool": "\(pool)", "url": "\(url)", "reason": "\(reason)", "retry_in_s": "\(retry)",
                    "keys_held": "\(held)",
                ]
            )
            if held == 0 { status.reason = "no signing keys loaded: last JWKS fetch failed: \(reason)" }
        }
    }
}

/// Whether one pool's signing keys can judge its tokens: nil when they can, else why not (what /readyz says under
/// the pool's `signing_keys:` condition). Each JWKS cache has its own, so it belongs to the authorizer that holds
/// the cache, and goes with it when a reload replaces that authorizer.
final class KeyStatus: Sendable {
    private let state = Mutex<String?>("the JWKS has not been fetched yet")

    init() {}

    var reason: String? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
