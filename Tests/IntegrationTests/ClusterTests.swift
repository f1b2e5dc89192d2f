import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SPEC.md "Several instances": two gateways with the same `[cluster]` share one Redis the test starts. The rate
/// limit is one limit, a revocation on either is refused on both within a second, and a restarted instance loads
/// what was revoked before it came up. Then the ways of reaching Redis: unix socket, password, database, TLS.
@Suite(.serialized) struct ClusterTests {
    @Test func theRateLimitHoldsAcrossBothInstances() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer()
        let url = "redis://127.0.0.1:\(redis.port)"
        let a = try harness.gateway(redisURL: url)
        let b = try harness.gateway(redisURL: url)
        #expect(try a.waitForCluster("ok", seconds: 5) && b.waitForCluster("ok", seconds: 5))
        // /signin on A, /refresh on B: one bucket per address, whichever path and whichever instance.
        var statuses: [Int] = []
        for attempt in 0..<20 {
            statuses.append(try attempt % 2 == 0 ? a.signInAttempt().status : b.signInAttempt(path: "/refresh").status)
        }
        #expect(statuses.filter { $0 == 400 }.count == 10, "10/m means 10 in all: \(statuses)")
        #expect(statuses.filter { $0 == 429 }.count == 10)
        #expect(Array(statuses.prefix(10)) == Array(repeating: 400, count: 10), "bursts up to the limit")
        let decided = try [a, b].map { try $0.metric(#"authgate_signin_rate_limit_decisions_total{source="redis"}"#) }
        #expect(decided == [10, 10])
        // The 429 says when to come back: one attempt's share of the minute at most.
        let refused = try RawClient(port: a.publicPort).exchange(
            "POST /signin HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
        #expect(refused.status == 429)
        #expect(
            (Int(refused.header("Retry-After") ?? "") ?? 0) >= 1
                && (Int(refused.header("Retry-After") ?? "") ?? 99) <= 6)
    }

    @Test func withoutAClusterReadyzSaysNothingOfOne() throws {
        let harness = try ClusterHarness()
        let gateway = try RunningGateway(
            extra: routes(upstream: harness.jwks.url), cognito: cognitoBlock(jwksURL: "\(harness.jwks.url)/jwks.json"))
        #expect(try waitUntilReady(gateway))
        #expect(try gateway.readiness() == (200, nil))
        #expect(try gateway.metric("authgate_redis_connected") == nil)
        let answer = try gateway.signInAttempt()
        #expect(answer.status == 400)
        #expect(try gateway.metric(#"authgate_signin_rate_limit_decisions_total{source="local"}"#) == nil)
    }

    @Test func aRevocationOnEitherIsRefusedOnTheOtherAndAfterARestart() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer()
        let url = "redis://127.0.0.1:\(redis.port)"
        var a: RunningGateway? = try harness.gateway(redisURL: url)
        let b = try harness.gateway(redisURL: url)
        #expect(try a!.waitForCluster("ok", seconds: 5) && b.waitForCluster("ok", seconds: 5))
        let token = harness.token(sub: "sub-on-b")
        #expect(try a!.status("/api/me", token: token) == 200)

        #expect(try b.revoke("sub-on-b") == 200)
        #expect(try waitFor(seconds: 1) { try a!.status("/api/me", token: token) == 401 }, "refused on A within 1 s")
        #expect(try a!.metric("authgate_revocations") == 1)

        // A restarted instance loads it from Redis when it connects.
        _ = a!.terminate()
        a = nil
        let restarted = try harness.gateway(redisURL: url)
        #expect(try restarted.waitForCluster("ok", seconds: 5))
        #expect(try restarted.status("/api/me", token: token) == 401)
        #expect(try restarted.status("/api/me", token: harness.token(sub: "sub-other")) == 200)
        // Issued after the revocation's second: accepted everywhere.
        let later = harness.token(sub: "sub-on-b", issuedAgo: -2)
        #expect(try restarted.status("/api/me", token: later) == 200)
        #expect(try b.status("/api/me", token: later) == 200)
    }

    @Test func aSignOutOnOneIsRefusedOnTheOther() throws {
        let moto = try MotoServer()
        let pool = try moto.createPool()
        let redis = try RedisServer()
        let upstream = try FixtureServer()
        func gateway() throws -> RunningGateway {
            try RunningGateway(
                extra: """
                    [cluster]
                    redis_url = "redis://127.0.0.1:\(redis.port)"

                    [[route]]
                    prefix = "/api"
                    upstream = "\(upstream.url)/upstream"
                    """,
                cognito: """
                    [cognito]
                    region = "\(pool.region)"
                    user_pool_id = "\(pool.userPoolID)"
                    client_ids = ["\(pool.clientID)"]
                    endpoint_url = "\(moto.endpoint)"
                    token_use = "any"
                    """,
                environment: SignInClient.awsEnvironment)
        }
        let a = try gateway()
        let b = try gateway()
        #expect(try waitUntilReady(a) && waitUntilReady(b))
        #expect(try a.waitForCluster("ok", seconds: 5) && b.waitForCluster("ok", seconds: 5))
        let body = #"{"username":"erin","password":"Correct-Horse-9"}"#
        let signedIn = try RawClient(port: a.publicPort).exchange(
            "POST /signin HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(signedIn.body)) as? [String: Any])
        let access = try #require(json["access_token"] as? String)
        let id = try #require(json["id_token"] as? String)
        #expect(try b.status("/api/me", token: id) == 200)

        let signOut = try RawClient(port: a.publicPort).exchange(
            "POST /signout HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(access)\r\nContent-Length: 0\r\n\r\n")
        #expect(signOut.status == 200)
        #expect(try waitFor(seconds: 1) { try b.status("/api/me", token: id) == 401 }, "refused on B within 1 s")
        #expect(try b.status("/api/me", token: access) == 401)
    }

    @Test func unixSocketPasswordFileAndItsNewline() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer(password: "pa ss")
        let passwordFile = redis.directory.appendingPathComponent("password").path
        try "pa ss\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let gateway = try harness.gateway(redisURL: "unix:\(redis.unixSocket)", passwordFile: passwordFile)
        #expect(try gateway.waitForCluster("ok", seconds: 5))
        #expect(try gateway.revoke("sub-unix") == 200)
        #expect(try waitFor(seconds: 1) { try redis.cli(["EXISTS", "it:revoked:sub-unix"]) == "1" })
        #expect(!gateway.log.contains("pa ss"), "the password is never logged")
    }

    @Test func aWrongPasswordIsDegraded() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer(password: "right")
        let gateway = try harness.gateway(
            redisURL: "redis://127.0.0.1:\(redis.port)", environment: ["AUTHGATE_REDIS_PASSWORD": "wrong"])
        #expect(try waitUntilReady(gateway))
        #expect(gateway.waitForLog("AUTH was refused"))
        #expect(try gateway.readiness() == (200, "degraded"))
    }

    @Test func theDatabaseIsSelectedAndTheCredentialsDirectoryGivesThePassword() throws {
        let harness = try ClusterHarness()
        let redis = try RedisServer(password: "from-credentials")
        let credentials = redis.directory.appendingPathComponent("credentials")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        try "from-credentials".write(
            to: credentials.appendingPathComponent("redis_password"), atomically: true, encoding: .utf8)
        let gateway = try harness.gateway(
            redisURL: "redis://127.0.0.1:\(redis.port)/3",
            environment: ["CREDENTIALS_DIRECTORY": credentials.path, "AUTHGATE_REDIS_PASSWORD": "not-this-one"])
        #expect(try gateway.waitForCluster("ok", seconds: 5))
        #expect(try gateway.revoke("sub-db3") == 200)
        #expect(try waitFor(seconds: 1) { try redis.cli(["-n", "3", "EXISTS", "it:revoked:sub-db3"]) == "1" })
        #expect(try redis.cli(["EXISTS", "it:revoked:sub-db3"]) == "0", "not in database 0")
    }

    @Test func tlsToRedisIsVerified() throws {
        let harness = try ClusterHarness()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rediss-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try makeCertificate(in: directory)
        let redis = try RedisServer(tls: (cert, key, cert))
        let trusted = try harness.gateway(
            redisURL: "rediss://localhost:\(redis.port)", environment: ["SSL_CERT_FILE": cert])
        #expect(try trusted.waitForCluster("ok", seconds: 5))
        #expect(try trusted.revoke("sub-tls") == 200)
        #expect(try waitFor(seconds: 1) { try redis.cli(["EXISTS", "it:revoked:sub-tls"]) == "1" })
        // Without the CA the certificate is not trusted: degraded, never plain text.
        let untrusted = try harness.gateway(redisURL: "rediss://localhost:\(redis.port)")
        #expect(try waitUntilReady(untrusted))
        #expect(untrusted.waitForLog("certificate"))
        #expect(try untrusted.readiness() == (200, "degraded"))
    }
}
