import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What the cluster suites share: gateways with a `[cluster]`, a JWKS they hold (so that /readyz is 200), tokens
/// signed by the test, and the admin endpoints read back.
struct ClusterHarness {
    let signer = TestSigner(keyID: "cluster-key")
    let jwks: FixtureServer

    init() throws {
        jwks = try FixtureServer(jwks: TestSigner.jwks([signer]))
    }

    /// `moreRoutes`: `[[route]]` tables after the harness's own.
    func gateway(
        redisURL: String, prefix: String = "it:", passwordFile: String? = nil, rateLimit: String = "10/m",
        logLevel: String = "info", environment: [String: String] = [:], moreRoutes: String = ""
    ) throws -> RunningGateway {
        try RunningGateway(
            extra: """
                [log]
                level = "\(logLevel)"

                [signin]
                rate_limit = "\(rateLimit)"

                [cluster]
                redis_url = "\(redisURL)"
                key_prefix = "\(prefix)"
                \(passwordFile.map { "password_file = \"\($0)\"" } ?? "")

                \(routes(upstream: jwks.url))
                \(moreRoutes)
                """,
            cognito: cognitoBlock(jwksURL: "\(jwks.url)/jwks.json"),
            environment: SignInClient.awsEnvironment.merging(environment) { $1 })
    }

    func token(sub: String, issuedAgo seconds: Int = 5) -> String {
        signer.token(
            TestSigner.claims {
                $0["sub"] = sub
                $0["iat"] = Int(Date().timeIntervalSince1970) - seconds
            })
    }
}

extension RunningGateway {
    /// /readyz's status and its `cluster` word ("ok", "degraded", or nil without one).
    func readiness() throws -> (status: Int, cluster: String?) {
        let response = try RawClient(port: adminPort).exchange("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n")
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return (response.status, json?["cluster"] as? String)
    }

    /// Polls /readyz until it says `cluster` (and 200), or `seconds` pass.
    func waitForCluster(_ cluster: String, seconds: Double) throws -> Bool {
        try waitFor(seconds: seconds) {
            let state = try readiness()
            return state.status == 200 && state.cluster == cluster
        }
    }

    /// One attempt on a sign-in path with a body it refuses (400) once the limiter let it through: no Cognito call.
    /// The status (400 or 429) and how long the answer took.
    func signInAttempt(path: String = "/signin") throws -> (status: Int, seconds: Double) {
        let started = Date()
        let response = try RawClient(port: publicPort).exchange(
            "POST \(path) HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
        return (response.status, Date().timeIntervalSince(started))
    }

    func revoke(_ sub: String) throws -> Int {
        let body = #"{"sub":"\#(sub)"}"#
        return try RawClient(port: adminPort).exchange(
            "POST /revoke HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        ).status
    }

    func metric(_ series: String) throws -> Double? {
        let text = try RawClient(port: adminPort).exchange("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        return text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }
}

extension RunningGateway {
    /// The times of the event lines named `event` in the JSON log, in order.
    func eventTimes(_ event: String) -> [Date] {
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return log.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["event"] as? String == event, let time = object["time"] as? String
            else { return nil }
            return parser.date(from: time)
        }
    }
}

/// Checks `condition` every 20 ms until it holds or `seconds` pass; whether it held.
func waitFor(seconds: Double, _ condition: () throws -> Bool) throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// A TCP server on loopback that answers every connection with `junk` and keeps it open: a "Redis" that is not.
final class JunkServer {
    let port: UInt16
    private let process = Process()

    init(junk: String) throws {
        port = try freePort()
        let script = """
            import socket, sys, threading
            junk = sys.argv[2].encode().decode('unicode_escape').encode('latin-1')
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(('127.0.0.1', int(sys.argv[1])))
            server.listen(16)
            print('ready', flush=True)
            def serve(connection):
                try:
                    connection.recv(65536)
                    connection.sendall(junk)
                    while connection.recv(65536):
                        pass
                except OSError:
                    pass
            while True:
                connection, _ = server.accept()
                threading.Thread(target=serve, args=(connection,), daemon=True).start()
            """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, "\(port)", junk]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = output.fileHandleForReading.availableData
        try FixtureServer.waitForPort(port)
    }

    deinit {
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
