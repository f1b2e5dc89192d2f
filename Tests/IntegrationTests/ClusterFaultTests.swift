import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SPEC.md "Several instances", the faults, each against a real redis-server (or a server that only pretends):
/// no request waits on Redis, the limiter falls back to the local one, /readyz stays 200 and says "degraded", the
/// link comes back within the 5 s back-off, and what was revoked meanwhile reaches Redis once it is back.
@Suite(.serialized) struct ClusterFaultTests {
    /// The back-off between tries is at most 5 s; a try takes at most the connect budget (1 s) on top.
    static let reconnectLimit = 7.0

    /// Ten attempts go through (400: the empty body), the eleventh is refused, all decided by the local limiter,
    /// and none waits: on average far under the 250 ms a round-trip to Redis may take (one slow answer on a
    /// loaded machine is allowed, a wait on every attempt is not).
    func expectLocalLimit(_ gateway: RunningGateway) throws {
        let local = #"authgate_signin_rate_limit_decisions_total{source="local"}"#
        let before = try gateway.metric(local) ?? 0
        var seconds: [Double] = []
        for attempt in 0..<11 {
            let answer = try gateway.signInAttempt()
            #expect(answer.status == (attempt < 10 ? 400 : 429), "attempt \(attempt)")
            seconds.append(answer.seconds)
        }
        #expect(seconds.reduce(0, +) / Double(seconds.count) < 0.1, "waited: \(seconds)")
        #expect(seconds.allSatisfy { $0 < 1 }, "waited: \(seconds)")
        #expect(try gateway.metric(local) == before + 11)
    }

    @Test func redisDownAtStartThenUp() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer()
        redis.stop()
        let gateway = try harness.gateway(redisURL: "redis://127.0.0.1:\(redis.port)")
        #expect(try waitUntilReady(gateway))
        #expect(try gateway.readiness() == (200, "degraded"))
        #expect(try gateway.metric("authgate_redis_connected") == 0)
        try expectLocalLimit(gateway)

        #expect(try gateway.revoke("sub-meanwhile") == 200)
        let token = harness.token(sub: "sub-meanwhile")
        #expect(try gateway.status("/api/me", token: token) == 401, "the check stays in memory")

        try redis.start()
        #expect(try gateway.waitForCluster("ok", seconds: Self.reconnectLimit))
        #expect(try gateway.metric("authgate_redis_connected") == 1)
        #expect(try redis.cli(["EXISTS", "it:revoked:sub-meanwhile"]) == "1", "written back on connect")
        let ttl = Int(try redis.cli(["TTL", "it:revoked:sub-meanwhile"])) ?? 0
        #expect(ttl > 24 * 3600 - 60 && ttl <= 24 * 3600, "the remaining revocation time")
        #expect((try gateway.metric(#"authgate_redis_roundtrips_total{result="ok"}"#) ?? 0) > 0)
    }

    /// Each failed try is one `cluster degraded` line (the first at warning, the rest at debug): the gaps between
    /// them double from 100 ms and stop growing at 5 s, and once Redis answers the link is up within one gap.
    @Test func triesBackOffToFiveSecondsAtMost() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer()
        redis.stop()
        let gateway = try harness.gateway(redisURL: "redis://127.0.0.1:\(redis.port)", logLevel: "debug")
        // Gaps of 100, 200 … 3200 ms, then 5 s, 5 s: the ninth failed try comes about 16.3 s after the first.
        #expect(try waitFor(seconds: 20) { gateway.eventTimes("cluster degraded").count >= 9 })
        let times = gateway.eventTimes("cluster degraded")
        let gaps = zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }
        #expect(gaps.allSatisfy { $0 <= 5.5 }, "at most 5 s between tries (and a refused connect): \(gaps)")
        #expect(gaps.suffix(2).allSatisfy { $0 >= 4.5 }, "the back-off grew to its cap: \(gaps)")
        #expect(gaps.first.map { $0 < 0.5 } == true, "the first retry is quick: \(gaps)")
        try redis.start()
        #expect(try gateway.waitForCluster("ok", seconds: 6))
    }

    @Test func redisKilledMidRunThenBackEmptyOnTheSamePort() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer()
        let gateway = try harness.gateway(redisURL: "redis://127.0.0.1:\(redis.port)")
        #expect(try gateway.waitForCluster("ok", seconds: 5))
        #expect(try gateway.revoke("sub-before") == 200)
        #expect(try waitFor(seconds: 1) { try redis.cli(["EXISTS", "it:revoked:sub-before"]) == "1" })

        redis.stop()
        // The heartbeat finds it within a second or so, with no request asking.
        #expect(try gateway.waitForCluster("degraded", seconds: 3))
        try expectLocalLimit(gateway)
        #expect(try gateway.revoke("sub-during") == 200)

        // Empty (nothing is saved): whatever Redis holds after this, the gateway wrote back.
        try redis.start()
        #expect(try gateway.waitForCluster("ok", seconds: Self.reconnectLimit))
        for sub in ["sub-before", "sub-during"] {
            #expect(try redis.cli(["EXISTS", "it:revoked:\(sub)"]) == "1", "\(sub) written back")
            #expect(try gateway.status("/api/me", token: harness.token(sub: sub)) == 401)
        }
        #expect(try gateway.status("/api/me", token: harness.token(sub: "sub-other")) == 200)
    }

    @Test func aSlowRedisIsNotWaitedFor() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer()
        let gateway = try harness.gateway(redisURL: "redis://127.0.0.1:\(redis.port)")
        #expect(try gateway.waitForCluster("ok", seconds: 5))
        let first = try gateway.signInAttempt()
        #expect(first.status == 400)
        #expect(try gateway.metric(#"authgate_signin_rate_limit_decisions_total{source="redis"}"#) == 1)

        try redis.sleep(seconds: 2)
        // Until the sleep starts an attempt may still be Redis's: the condition is a local decision, in time.
        var slowest = 0.0
        let fellBack = try waitFor(seconds: 1) {
            slowest = max(slowest, try gateway.signInAttempt().seconds)
            return try gateway.metric(#"authgate_signin_rate_limit_decisions_total{source="local"}"#) ?? 0 > 0
        }
        #expect(fellBack)
        // The budget is 250 ms; the rest is the test's own connection and the gateway's answer.
        #expect(slowest < 0.5, "an attempt waited \(slowest) s")
        #expect(try gateway.readiness() == (200, "degraded"))
        #expect((try gateway.metric(#"authgate_redis_roundtrips_total{result="timeout"}"#) ?? 0) >= 1)
        #expect(try gateway.waitForCluster("ok", seconds: 2 + Self.reconnectLimit))
    }

    @Test(arguments: [
        "hello, I am not Redis\\r\\n",
        "*2147483647\\r\\n",
        "$99999999999\\r\\n",
        "+OK\\r\\n*1\\r\\n*1\\r\\n*1\\r\\n*1\\r\\n*1\\r\\n*1\\r\\n*1\\r\\n*1\\r\\n*1\\r\\n",
        "$40\\r\\n0123456789012345678901234567890123456789\\r\\n:5\\r\\n:6\\r\\n:7\\r\\n",
    ])
    func aServerAnsweringGarbageIsDegradedAndHarmless(_ junk: String) throws {
        let harness = try ClusterHarness()
        let server = try JunkServer(junk: junk)
        let gateway = try harness.gateway(redisURL: "redis://127.0.0.1:\(server.port)")
        #expect(try waitUntilReady(gateway))
        #expect(try gateway.readiness() == (200, "degraded"))
        try expectLocalLimit(gateway)
        #expect(try gateway.revoke("sub-x") == 200)
        #expect(try gateway.status("/api/me", token: harness.token(sub: "sub-x")) == 401)
        // It tries again on its back-off, each try refused, and stays degraded and alive.
        #expect(
            try waitFor(seconds: 3) {
                try gateway.metric(#"authgate_redis_roundtrips_total{result="error"}"#) ?? 0 >= 2
            })
        #expect(try gateway.readiness() == (200, "degraded"))
        #expect(try gateway.status("/api/me", token: harness.token(sub: "sub-y")) == 200)
    }
}
