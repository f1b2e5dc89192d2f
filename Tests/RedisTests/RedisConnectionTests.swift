import Cryptography
import Dispatch
import Endpoints
import Foundation
import Redis
import TestSupport
import Testing

/// `RedisConnection` against a real redis-server the test starts: TCP, unix socket, TLS, pipelining, budgets.
@Suite(.serialized) struct RedisConnectionTests {
    let queue = DispatchQueue(label: "redis-tests")
    static let second: UInt64 = 1_000_000_000

    func open(_ url: String, tls: TLSClientContext? = nil) async throws -> RedisConnection {
        let connection = RedisConnection(url: try RedisURL(url), tls: tls, queue: queue)
        let error: RedisError? = await withCheckedContinuation { continuation in
            queue.async { connection.open(budgetNanoseconds: 2 * Self.second) { continuation.resume(returning: $0) } }
        }
        if let error { throw error }
        return connection
    }

    func send(_ connection: RedisConnection, _ arguments: String..., budget: UInt64 = 2 * second) async
        -> Result<RedisReply, RedisError>
    {
        await withCheckedContinuation { continuation in
            queue.async {
                connection.send(RedisCommand(arguments.map { Array($0.utf8) }), budgetNanoseconds: budget) {
                    continuation.resume(returning: $0)
                }
            }
        }
    }

    @Test func tcpAndUnixSocketConnectionsAnswer() async throws {
        let server = try RedisServer()
        for url in ["redis://127.0.0.1:\(server.port)", "unix:\(server.unixSocket)"] {
            let connection = try await open(url)
            #expect(try await send(connection, "SET", "k", "v\r\n").get() == .status("OK"))
            #expect(try await send(connection, "GET", "k").get() == .bulk(Array("v\r\n".utf8)))
            queue.sync { connection.close() }
        }
    }

    @Test func pipelinedCommandsGetTheirOwnReplies() async throws {
        let server = try RedisServer()
        let connection = try await open("redis://127.0.0.1:\(server.port)")
        let replies = await withCheckedContinuation { (continuation: CheckedContinuation<[Int64], Never>) in
            queue.async {
                var got: [Int64] = []
                for _ in 0..<500 {
                    connection.send(RedisCommand("INCR", "n"), budgetNanoseconds: 2 * Self.second) { result in
                        got.append((try? result.get())?.integer ?? -1)
                        if got.count == 500 { continuation.resume(returning: got) }
                    }
                }
            }
        }
        #expect(replies == Array(1...500))
    }

    @Test func aRoundTripOverBudgetFailsAndClosesTheConnection() async throws {
        let server = try RedisServer()
        let connection = try await open("redis://127.0.0.1:\(server.port)")
        try server.sleep(seconds: 1)
        // Until the other client's DEBUG SLEEP runs, a PING may still come back: wait for one that does not.
        var result = await send(connection, "PING", budget: Self.second / 4)
        for _ in 0..<20 where (try? result.get()) == .status("PONG") {
            result = await send(connection, "PING", budget: Self.second / 4)
        }
        #expect(throws: RedisError.self) { try result.get() }
        #expect(queue.sync { connection.waiting } == 0)
        let after = await send(connection, "PING")
        #expect(throws: RedisError.self) { try after.get() }
    }

    @Test func aServerThatIsNotThereIsAConnectError() async throws {
        let port = try FixtureServer.freePort()
        await #expect(throws: RedisError.self) { _ = try await open("redis://127.0.0.1:\(port)") }
    }

    @Test func tlsIsVerifiedAgainstTheCA() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        let server = try RedisServer(password: "s3cret", tls: (cert, key, cert))
        let connection = try await open("rediss://localhost:\(server.port)", tls: try TLSClientContext(caFile: cert))
        #expect(try await send(connection, "AUTH", "s3cret").get() == .status("OK"))
        #expect(try await send(connection, "PING").get() == .status("PONG"))
        queue.sync { connection.close() }
        // Against the system's CAs the self-signed certificate is refused.
        await #expect(throws: RedisError.self) {
            _ = try await open("rediss://localhost:\(server.port)", tls: try TLSClientContext(caFile: ""))
        }
    }
}
