import Cluster
import Cryptography
import Endpoints
import Logging
import Synchronization
import Time

/// `[cluster]` joined to the rest of the gateway: the store gets the password of SPEC.md "Secrets", the TLS
/// context of `rediss://`, the revocations (written back from, loaded into, and told of each new one), and
/// reports to `/metrics`, `/readyz` and the log. Made once at start: a reload cannot change `[cluster]`.
enum ClusterWiring {
    static func make(
        _ settings: ClusterSettings, environment: [String: String], revocations: Revocations, readiness: Readiness,
        metrics: Metrics, logger: Logger
    ) throws(GatewayStartError) -> ClusterStore {
        let password: RedisPassword.Found?
        do {
            password = try RedisPassword.read(file: settings.passwordFile, environment: environment)
        } catch {
            throw GatewayStartError(code: .cluster, description: error.description)
        }
        var tls: TLSClientContext?
        if settings.redisURL.usesTLS {
            do {
                tls = try TLSClientContext(caFile: "")
            } catch {
                throw GatewayStartError(code: .cluster, description: "rediss: \(error.description)")
            }
        }
        let configuration = ClusterStore.Configuration(
            url: settings.redisURL, keyPrefix: settings.keyPrefix, password: password?.value, tls: tls)
        // True at start too: the first failure is the start of an outage.
        let wasUp = Atomic<Bool>(true)
        let store = ClusterStore(
            configuration,
            snapshot: { revocations.snapshot.map(Self.record) },
            received: { records in
                revocations.load(records.map { Entry(sub: $0.sub, revokedAt: $0.revokedAt, expiresAt: $0.expiresAt) })
            },
            observe: { event in
                switch event {
                case .roundTrip(let result):
                    metrics.count(.redisRoundtrips, Metrics.labels([("result", result)]))
                case .linkUp:
                    wasUp.store(true, ordering: .relaxed)
                    readiness.cluster = "ok"
                    logger.info("cluster connected", metadata: ["redis": "\(settings.redisURL)"])
                case .linkDown(let reason):
                    readiness.cluster = "degraded"
                    // Once per outage at warning; the retries of one outage (every 5 s at most) at debug.
                    let level: Logger.Level = wasUp.exchange(false, ordering: .relaxed) ? .warning : .debug
                    logger.log(
                        level: level, "cluster degraded",
                        metadata: ["redis": "\(settings.redisURL)", "reason": "\(reason)"])
                }
            },
            wallClock: { Int(SystemClock.wallClockSeconds().rounded(.down)) }
        )
        readiness.cluster = "degraded"
        metrics.use(clusterUp: { store.isUp })
        revocations.observe { entry in store.publish(Self.record(entry)) }
        logger.info(
            "cluster configured",
            metadata: [
                "redis": "\(settings.redisURL)", "key_prefix": "\(settings.keyPrefix)",
                "password": "\(password?.source ?? "none")",
            ])
        return store
    }

    typealias Entry = Revocations.Entry

    static func record(_ entry: Entry) -> RevocationRecord {
        RevocationRecord(sub: entry.sub, revokedAt: entry.revokedAt, expiresAt: entry.expiresAt)
    }
}
