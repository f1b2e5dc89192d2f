import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `redis-server` of the test's own: loopback on a free port (and a unix socket), in a temporary directory,
/// nothing saved (`--save "" --appendonly no`). `stop()` kills it; `start()` brings it back on the same port,
/// empty. Tests talk to no other Redis.
public final class RedisServer: @unchecked Sendable {
    public let port: UInt16
    public let directory: URL
    public let unixSocket: String
    public let password: String?
    /// With TLS: the port speaks TLS only, with this certificate (signed by `tlsCA`).
    public let tls: (cert: String, key: String, ca: String)?
    private var process: Process?

    public init(password: String? = nil, tls: (cert: String, key: String, ca: String)? = nil) throws {
        port = try FixtureServer.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        unixSocket = directory.appendingPathComponent("redis.sock").path
        self.password = password
        self.tls = tls
        try start()
    }

    /// Starts the server (again) on the same port and socket, empty, and waits until it answers PING.
    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        var arguments = [
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path,
            "--unixsocket", unixSocket, "--unixsocketperm", "700", "--enable-debug-command", "yes",
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ]
        if let tls {
            arguments += [
                "--port", "0", "--tls-port", "\(port)", "--tls-cert-file", tls.cert, "--tls-key-file", tls.key,
                "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "no",
            ]
        } else {
            arguments += ["--port", "\(port)"]
        }
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? cli(["PING"])) == "PONG" { return }
            usleep(20_000)
        }
        throw FixtureError(description: "redis-server on port \(port) did not answer PING")
    }

    /// Kills the server (a Redis that goes away without a word).
    public func stop() {
        guard let process else { return }
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        self.process = nil
    }

    /// `redis-cli` against this server only (its unix socket); the reply's text without the trailing newline.
    @discardableResult
    public func cli(_ arguments: [String]) throws -> String {
        let helper = Process()
        helper.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        var all = ["-s", unixSocket]
        if let password { all += ["--no-auth-warning", "-a", password] }
        helper.arguments = all + arguments
        let output = Pipe()
        helper.standardOutput = output
        helper.standardError = FileHandle.nullDevice
        try helper.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        helper.waitUntilExit()
        guard helper.terminationStatus == 0 else {
            throw FixtureError(description: "redis-cli \(arguments.first ?? "") exited \(helper.terminationStatus)")
        }
        var text = String(decoding: data, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Makes the server sleep `seconds` (DEBUG SLEEP from another client): every client waits meanwhile.
    /// Returns at once; the sleep runs in the background.
    public func sleep(seconds: Double) throws {
        let helper = Process()
        helper.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        var all = ["-s", unixSocket]
        if let password { all += ["--no-auth-warning", "-a", password] }
        helper.arguments = all + ["DEBUG", "SLEEP", "\(seconds)"]
        helper.standardOutput = FileHandle.nullDevice
        helper.standardError = FileHandle.nullDevice
        try helper.run()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
