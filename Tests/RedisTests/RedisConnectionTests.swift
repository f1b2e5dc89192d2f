import Cryptography
import Dispatch
import Endpoints
import Foundation
import Redis
import Synchronization
import TestSupport
import Testing

/// `RedisConnection` against a real redis-server the test starts: TCP, unix socket, TLS, pipelining, budgets.
@Suite(.serialized) struct RedisConnectionTests {
    let queue = DispatchQueue(label: "redis-tests")
    static let second: UInt64 = 1_000_000_000

    /// Semaphores, not continuations: the tests' cooperative threads may all be blocked by other suites.
    func open(_ url: String, tls: TLSClientContext? = nil) throws -> RedisConnection {
        let connection = RedisConnection(url: try RedisURL(url), tls: tls, queue: queue)
        let opened = DispatchSemaphore(value: 0)
        let failure = Mutex<RedisError?>(nil)
        queue.async {
            connection.open(budgetNanoseconds: 2 * Self.second) { error in
                failure.withLock { $0 = error }
                opened.signal()
            }
        }
        opened.wait()
        if let error = failure.withLock({ $0 }) { throw error }
        return connection
    }

    func send(_ connection: RedisConnection, _ arguments: String..., budget: UInt64 = 2 * second)
        -> Result<RedisReply, RedisError>
    {
        let answered = DispatchSemaphore(value: 0)
        let reply = Mutex<Result<RedisReply, RedisError>?>(nil)
        queue.async {
            connection.send(RedisCommand(arguments.map { Array($0.utf8) }), budgetNanoseconds: budget) { result in
                reply.withLock { $0 = result }
                answered.signal()
            }
        }
        answered.wait()
        return reply.withLock { $0 } ?? .failure(RedisError(.closed, "no answer"))
    }

    @Test func tcpAndUnixSocketConnectionsAnswer() throws {
        let server = try RedisServer()
        for url in ["redis://127.0.0.1:\(server.port)", "unix:\(server.unixSocket)"] {
            let connection = try open(url)
            #expect(try send(connection, "SET", "k", "v\r\n").get() == .status("OK"))
            #expect(try send(connection, "GET", "k").get() == .bulk(Array("v\r\n".utf8)))
            queue.sync { connection.close() }
        }
    }

    @Test func pipelinedCommandsGetTheirOwnReplies() throws {
        let server = try RedisServer()
        let connection = try open("redis://127.0.0.1:\(server.port)")
        let done = DispatchSemaphore(value: 0)
        let got = Mutex<[Int64]>([])
        queue.async {
            for _ in 0..<500 {
                connection.send(RedisCommand("INCR", "n"), budgetNanoseconds: 2 * Self.second) { result in
                    let count = got.withLock {
                        $0.append((try? result.get())?.integer ?? -1)
                        return $0.count
                    }
                    if count == 500 { done.signal() }
                }
            }
        }
        done.wait()
        let replies = got.withLock { $0 }
        #expect(replies == Array(1...500))
    }

    @Test func aRoundTripOverBudgetFailsAndClosesTheConnection() throws {
        let server = try RedisServer()
        let connection = try open("redis://127.0.0.1:\(server.port)")
        try server.sleep(seconds: 1)
        // Until the other client's DEBUG SLEEP runs, a PING may still come back: wait for one that does not.
        let deadline = Date().addingTimeInterval(5)
        var result = send(connection, "PING", budget: Self.second / 4)
        while (try? result.get()) == .status("PONG") && Date() < deadline {
            result = send(connection, "PING", budget: Self.second / 4)
        }
        #expect(throws: RedisError.self) { try result.get() }
        #expect(queue.sync { connection.waiting } == 0)
        let after = send(connection, "PING")
        #expect(throws: RedisError.self) { try after.get() }
    }

    @Test func aServerThatIsNotThereIsAConnectError() throws {
        let port = try FixtureServer.freePort()
        #expect(throws: RedisError.self) { _ = try open("redis://127.0.0.1:\(port)") }
    }

    @Test func tlsIsVerifiedAgainstTheCA() throws {
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
        let connection = try open("rediss://localhost:\(server.port)", tls: try TLSClientContext(caFile: cert))
        #expect(try send(connection, "AUTH", "s3cret").get() == .status("OK"))
        #expect(try send(connection, "PING").get() == .status("PONG"))
        queue.sync { connection.close() }
        // Against the system's CAs the self-signed certificate is refused.
        #expect(throws: RedisError.self) {
            _ = try open("rediss://localhost:\(server.port)", tls: try TLSClientContext(caFile: ""))
        }
    }
}
