import Cluster
import Dispatch
import Endpoints
import Foundation
import Synchronization
import TestSupport
import Testing

/// `ClusterStore` against a redis-server the test starts: the shared limit is the local limiter's token bucket, a
/// flushed script cache costs an EVAL and no decision, and what one store publishes the other receives.
@Suite(.serialized) struct ClusterStoreTests {
    final class Received: Sendable {
        let records = Mutex<[RevocationRecord]>([])
        let up = Atomic<Bool>(false)
    }

    func store(_ redis: RedisServer, holding: [RevocationRecord] = [], into received: Received) throws -> ClusterStore {
        let store = ClusterStore(
            .init(url: try RedisURL("redis://127.0.0.1:\(redis.port)"), keyPrefix: "t:", password: nil, tls: nil),
            snapshot: { holding },
            received: { records in received.records.withLock { $0 += records } },
            observe: { event in
                if case .linkUp = event { received.up.store(true, ordering: .relaxed) }
            },
            wallClock: { Int(Date().timeIntervalSince1970) })
        store.start()
        return store
    }

    /// Waits on a semaphore, not a continuation: the tests' cooperative threads are often all blocked by other
    /// suites, and a continuation resumed late would make the bucket refill between two attempts.
    func attempt(_ store: ClusterStore, _ address: String = "192.0.2.1", per period: UInt64 = 60_000_000_000)
        -> ClusterStore.RateAnswer
    {
        let answered = DispatchSemaphore(value: 0)
        let answer = Mutex<ClusterStore.RateAnswer?>(nil)
        store.takeAttempt(address, count: 5, periodNanoseconds: period) { result in
            answer.withLock { $0 = result }
            answered.signal()
        }
        answered.wait()
        return answer.withLock { $0 } ?? .unavailable
    }

    func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    @Test func theSharedLimitIsATokenBucketOnRedissClock() throws {
        let redis = try RedisServer()
        let received = Received()
        let store = try store(redis, into: received)
        defer { store.stop() }
        #expect(wait(seconds: 5) { received.up.load(ordering: .relaxed) })
        // 5 a minute: five at once, then one every 12 s.
        for _ in 0..<5 { #expect(attempt(store) == .allowed) }
        guard case .wait(let seconds) = attempt(store) else {
            Issue.record("the sixth attempt of the minute was not refused")
            return
        }
        // One interval (12 s) at most, less the time the attempts took: never the rest of the period.
        #expect((1...12).contains(seconds), "waits \(seconds) s")
        #expect(attempt(store, "192.0.2.2") == .allowed, "another address has its own bucket")
        // The key expires once the bucket would be full again: within the period.
        let ttl = Int(try redis.cli(["PTTL", "t:ratelimit:192.0.2.1"])) ?? -1
        #expect(ttl > 0 && ttl <= 60_000)

        // 5 every 2 s: once refused, the wait is one interval (400 ms, said as 1 s), and an attempt passes again.
        let fast: UInt64 = 2_000_000_000
        var refusal: ClusterStore.RateAnswer?
        for _ in 0..<20 where refusal == nil {
            let answer = attempt(store, "192.0.2.4", per: fast)
            if answer != .allowed { refusal = answer }
        }
        #expect(refusal == .wait(seconds: 1))
        #expect(wait(seconds: 5) { attempt(store, "192.0.2.4", per: fast) == .allowed })

        try redis.cli(["SCRIPT", "FLUSH"])
        #expect(attempt(store, "192.0.2.3") == .allowed, "NOSCRIPT: the script is sent whole")
    }

    @Test func whatOneStorePublishesTheOtherReceivesAndARestartLoads() throws {
        let redis = try RedisServer()
        let now = Int(Date().timeIntervalSince1970)
        let held = RevocationRecord(sub: "held-by-a", revokedAt: now - 10, expiresAt: now + 600)
        let atA = Received()
        let atB = Received()
        let a = try store(redis, holding: [held], into: atA)
        defer { a.stop() }
        #expect(wait(seconds: 5) { atA.up.load(ordering: .relaxed) })
        let b = try store(redis, into: atB)
        defer { b.stop() }
        #expect(wait(seconds: 5) { atB.up.load(ordering: .relaxed) })
        #expect(atB.records.withLock { $0 } == [held], "written back by A, loaded by B")
        let ttl = Int(try redis.cli(["TTL", "t:revoked:held-by-a"])) ?? -1
        #expect(ttl > 590 && ttl <= 600)

        let fresh = RevocationRecord(sub: "new:sub", revokedAt: now, expiresAt: now + 60)
        a.publish(fresh)
        #expect(wait(seconds: 1) { atB.records.withLock { $0.contains(fresh) } })
        // A later revocation of the same sub keeps the later times; an older one changes nothing.
        a.publish(RevocationRecord(sub: "new:sub", revokedAt: now - 100, expiresAt: now + 30))
        #expect(wait(seconds: 1) { (try? redis.cli(["GET", "t:revoked:new:sub"])) == "\(now):\(now + 60)" })
    }
}
