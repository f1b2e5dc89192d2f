import Foundation
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Paths of the repository and the binary under test (AUTHGATE_BINARY, else the debug build).
enum Repository {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["AUTHGATE_BINARY"], !path.isEmpty { return path }
        return root.appendingPathComponent(".build/debug/authgate").path
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
func freePort() throws -> UInt16 {
    try FixtureServer.freePort()
}

/// Result of running a command to completion.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

func runCommand(_ arguments: [String], environment: [String: String]? = nil, input: String? = nil) throws
    -> CommandResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Repository.binary)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let stdin = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self)
    )
}

/// A running `authgate serve` on loopback with a configuration made for the test.
final class RunningGateway {
    let publicPort: UInt16
    let adminPort: UInt16
    let directory: URL
    let process = Process()
    let logFile: URL
    var unixSocket: String { directory.appendingPathComponent("gw.sock").path }

    /// `server` is extra TOML for [server] (listen is set here); `extra` goes at the end.
    static let unreachableCognito = """
        [cognito]
        region = "us-east-1"
        user_pool_id = "us-east-1_Test"
        client_ids = ["testclient"]
        endpoint_url = "http://127.0.0.1:1"
        """

    init(
        server: String = "",
        extra: String = "",
        cognito: String = RunningGateway.unreachableCognito,
        listenUnix: Bool = false,
        listenIPv6Port: UInt16? = nil,
        environment: [String: String] = [:],
        launcher: [String] = []
    ) throws {
        publicPort = try freePort()
        adminPort = try freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("authgate-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        logFile = directory.appendingPathComponent("stdout.log")
        var listen = ["\"127.0.0.1:\(publicPort)\""]
        if listenUnix { listen.append("\"unix:\(directory.appendingPathComponent("gw.sock").path)\"") }
        if let listenIPv6Port { listen.append("\"[::1]:\(listenIPv6Port)\"") }
        let config = """
            [server]
            listen = [\(listen.joined(separator: ", "))]
            workers = 2
            \(server)

            [admin]
            listen = "127.0.0.1:\(adminPort)"

            \(cognito)

            \(extra)
            """
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        if launcher.isEmpty {
            process.executableURL = URL(fileURLWithPath: Repository.binary)
            process.arguments = ["serve", "--config", configFile.path]
        } else {
            // A wrapper that prepares the process (systemd's part) and then execs authgate in its place.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = launcher + [Repository.binary, "serve", "--config", configFile.path]
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: logFile)
        process.standardError = process.standardOutput
        try process.run()
        try waitUntilHealthy()
    }

    var configFile: URL { directory.appendingPathComponent("authgate.toml") }

    /// The process id, for reading its /proc entries (descriptors, memory).
    var pid: Int32 { process.processIdentifier }

    /// The status of one GET on a new connection to the public listener, with `token` as a bearer token.
    func status(_ path: String, token: String? = nil) throws -> Int {
        let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        return try RawClient(port: publicPort).exchange("GET \(path) HTTP/1.1\r\nHost: a\r\n\(authorization)\r\n")
            .status
    }

    /// Replaces the configuration file (for a reload); `transform` gets the current text.
    func rewriteConfig(_ transform: (String) -> String) throws {
        let text = try String(contentsOf: configFile, encoding: .utf8)
        try transform(text).write(to: configFile, atomically: true, encoding: .utf8)
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits until the log holds `text` (a reload's outcome, say), `count` times at least.
    func waitForLog(_ text: String, count: Int = 1, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if log.components(separatedBy: text).count > count { return true }
            usleep(20_000)
        }
        return false
    }

    private func waitUntilHealthy() throws {
        for _ in 0..<200 {
            if let response = try? RawClient(port: adminPort).exchange("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
                response.status == 200
            {
                return
            }
            if !process.isRunning { throw TestFailure("authgate exited: \(log)") }
            usleep(25_000)
        }
        throw TestFailure("authgate did not become healthy: \(log)")
    }

    var log: String {
        (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    }

    /// Sends SIGTERM and waits for the exit status; a process still running after 15 s is killed (status 137).
    func terminate() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        for _ in 0..<1500 where process.isRunning { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return 137
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        _ = terminate()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A parsed response as the client saw it.
struct RawResponse {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking socket client that speaks raw bytes, with a receive timeout.
final class RawClient {
    /// -1 once closed: a failed initializer closes it and deinit must not close the number again,
    /// since by then another thread may own it (a double close broke unrelated Process launches).
    private(set) var fd: Int32
    private var pending: [UInt8] = []

    /// `source` binds the client's end to that loopback address first (IPv4): 127.0.0.2 plays another peer.
    init(port: UInt16, host: String = "127.0.0.1", source: String? = nil, timeoutSeconds: Int = 5) throws {
        let isIPv6 = host.contains(":")
        fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                let code = errno
                close(fd)
                fd = -1
                throw TestFailure("bind to \(source) failed: errno \(code)")
            }
        }
        var connected: Int32
        if isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr(host)
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            fd = -1
            throw TestFailure("connect to \(host):\(port) failed: errno \(code)")
        }
        setTimeout(seconds: timeoutSeconds)
    }

    init(unixPath: String, timeoutSeconds: Int = 5) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnixAddress(unixPath) { connect(fd, $0, $1) }
        guard connected == 0 else {
            let code = errno
            close(fd)
            fd = -1
            throw TestFailure("connect to \(unixPath) failed: errno \(code)")
        }
        setTimeout(seconds: timeoutSeconds)
    }

    func setTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += sent
        }
    }

    /// Reads more bytes; returns false at EOF (or on a reset).
    private func fill() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            pending += buffer[0..<count]
            return true
        }
        if count == 0 || errno == ECONNRESET { return false }
        throw TestFailure("receive timed out or failed: errno \(errno)")
    }

    /// Reads one response (Content-Length or close-delimited). `head` true: the request was HEAD.
    func readResponse(head: Bool = false) throws -> RawResponse {
        var headEnd: Int?
        while headEnd == nil {
            if let range = findHeadEnd() {
                headEnd = range
                break
            }
            guard try fill() else { throw TestFailure("connection closed before a response head") }
        }
        let headBytes = pending[0..<headEnd!]
        let lines = String(decoding: headBytes, as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw TestFailure("bad status line \(lines[0])")
        }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(
                (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        pending.removeFirst(headEnd! + 4)
        if status == 100 { return RawResponse(status: status, headers: headers, body: []) }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) }
        var body: [UInt8] = []
        if head || status == 204 || status == 304 {
        } else if let length {
            while pending.count < length {
                guard try fill() else { throw TestFailure("connection closed inside a body") }
            }
            body = Array(pending[0..<length])
            pending.removeFirst(length)
        } else {
            while try fill() {}
            body = pending
            pending = []
        }
        return RawResponse(status: status, headers: headers, body: body)
    }

    private func findHeadEnd() -> Int? {
        guard pending.count >= 4 else { return nil }
        for index in 0...(pending.count - 4)
        where pending[index] == 13 && pending[index + 1] == 10 && pending[index + 2] == 13 && pending[index + 3] == 10 {
            return index
        }
        return nil
    }

    func exchange(_ request: String) throws -> RawResponse {
        try send(request)
        return try readResponse()
    }

    /// Reads exactly `count` more bytes (those left after a response head first).
    func read(count: Int) throws -> [UInt8] {
        while pending.count < count {
            guard try fill() else { throw TestFailure("connection closed after \(pending.count) of \(count) bytes") }
        }
        defer { pending.removeFirst(count) }
        return Array(pending[0..<count])
    }

    /// True when the server closed the connection (EOF) within the receive timeout, with no more bytes.
    func isClosedByPeer() throws -> Bool {
        if !pending.isEmpty { return false }
        return try !fill()
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, made with the openssl command: (cert, key) paths.
func makeCertificate(in directory: URL, name: String = "cert") throws -> (cert: String, key: String) {
    let cert = directory.appendingPathComponent("\(name).pem").path
    let key = directory.appendingPathComponent("\(name)-key.pem").path
    let result = try shell([
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ])
    guard result.status == 0 else { throw TestFailure("openssl req failed: \(result.output)") }
    return (cert, key)
}

/// Runs a command from PATH with optional standard input; its exit status and its output (stdout and stderr).
func shell(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    // Foundation reaps its children itself: a waitpid here can lose the status to it.
    process.waitUntilExit()
    // Killed by a signal: 128 + the signal, as shells report it, never 0.
    let code = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    return (code, String(decoding: data, as: UTF8.self))
}

/// Calls `body` with a C socket address for the unix socket at `path`.
func withUnixAddress<Result>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { bytes in
        for (index, byte) in path.utf8.enumerated() { bytes[index] = byte }
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}
