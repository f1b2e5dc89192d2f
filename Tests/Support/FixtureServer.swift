import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Tests/Fixtures/fixture_server.py on a free loopback port, stopped with the value.
public final class FixtureServer: @unchecked Sendable {
    public let port: UInt16
    let process = Process()
    public let jwksFile: URL
    private let script: String

    /// A unix socket the server also answers on, when asked for.
    public let unixSocket: String?

    /// The loopback address it listens on (its echo answers name it as "server").
    public let host: String

    /// `idleTimeout`: seconds after which the server closes a kept-alive connection that stays silent (nil: never).
    /// `host` and `port` place it elsewhere on loopback: two fixtures on one port at 127.0.0.1 and 127.0.0.3 play
    /// one upstream name that moves.
    public init(
        jwks: String = #"{"keys":[]}"#, unixSocket: Bool = false, tls: (cert: String, key: String)? = nil,
        idleTimeout: Double? = nil, host: String = "127.0.0.1", port: UInt16? = nil
    ) throws {
        self.host = host
        self.port = try port ?? Self.freePort()
        jwksFile = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json")
        try jwks.write(to: jwksFile, atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fixture_server.py")
        self.script = script.path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let socketPath =
            unixSocket
            ? FileManager.default.temporaryDirectory.appendingPathComponent("up-\(self.port).sock").path : nil
        self.unixSocket = socketPath
        var arguments = [
            "python3", script.path, "--host", host, "--port", "\(self.port)", "--jwks-file", jwksFile.path,
        ]
        if let socketPath { arguments += ["--unix", socketPath] }
        if let tls { arguments += ["--tls-cert", tls.cert, "--tls-key", tls.key] }
        if let idleTimeout { arguments += ["--idle-timeout", "\(idleTimeout)"] }
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        // Not the test's own stderr: a fixture outliving a killed test must not hold its caller's pipes open.
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = output.fileHandleForReading.availableData  // "ready"
        try Self.waitForPort(self.port, host: host)
    }

    public var url: String { "http://\(host):\(port)" }

    /// Replaces the JWKS document the server hands out.
    public func setJWKS(_ text: String) throws {
        try text.write(to: jwksFile, atomically: true, encoding: .utf8)
    }

    /// How many JWKS requests the server has answered.
    public func jwksRequests() throws -> Int {
        let text = (try? String(contentsOfFile: jwksFile.path + ".count", encoding: .utf8)) ?? "0"
        return Int(text) ?? -1
    }

    /// Stops the server now (a JWKS endpoint that goes down).
    public func stop() {
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    deinit {
        // kill and waitpid rather than Process.waitUntilExit, which spins a run loop and stalls in async tests.
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(at: jwksFile)
        try? FileManager.default.removeItem(atPath: jwksFile.path + ".count")
    }

    /// A port that was free a moment ago and that this process never handed out before: the kernel may give the
    /// same free port to two calls in a row (a gateway's public and admin ports were once the same).
    public static func freePort() throws -> UInt16 {
        while true {
            let port = try anyFreePort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
    }

    private static let handedOut = Mutex<Set<UInt16>>([])

    private static func anyFreePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}

extension FixtureServer {
    /// Waits until something accepts connections on `host`:`port`.
    public static func waitForPort(_ port: UInt16, host: String = "127.0.0.1", seconds: Double = 10) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr(host)
            address.sin_port = port.bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if connected == 0 { return }
            usleep(50_000)
        }
        throw FixtureError(description: "nothing listens on port \(port)")
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
}
