import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Tests/Fixtures/fixture_server.py on a free loopback port, stopped with the value.
final class FixtureServer {
    let port: UInt16
    let process = Process()
    let jwksFile: URL

    init(jwks: String = #"{"keys":[]}"#) throws {
        port = try Self.freePort()
        jwksFile = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json")
        try jwks.write(to: jwksFile, atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fixture_server.py")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--port", "\(port)", "--jwks-file", jwksFile.path]
        let output = Pipe()
        process.standardOutput = output
        // Not the test's own stderr: a fixture outliving a killed test must not hold its caller's pipes open.
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = output.fileHandleForReading.availableData  // "ready"
    }

    var url: String { "http://127.0.0.1:\(port)" }

    deinit {
        // kill and waitpid rather than Process.waitUntilExit, which spins a run loop and stalls in async tests.
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(at: jwksFile)
    }

    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}
