import Foundation
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Tests/Fixtures/ws_upstream.py on a free loopback port (a WebSocket upstream with modes picked by the path's last
/// segment), killed with the value. `keepAlivePort` is its plain HTTP/1.1 listener that keeps connections open.
final class WebSocketUpstream {
    let port: UInt16
    let keepAlivePort: UInt16
    private let process = Process()
    private let requestsLog: URL

    init() throws {
        port = try freePort()
        keepAlivePort = try freePort()
        requestsLog = FileManager.default.temporaryDirectory.appendingPathComponent("ws-requests-\(UUID().uuidString)")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Repository.fixture("ws_upstream.py"), "--port", "\(port)", "--requests-log", requestsLog.path,
            "--keep-alive-port", "\(keepAlivePort)",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = output.fileHandleForReading.availableData  // "ready"
        try FixtureServer.waitForPort(port)
        try FixtureServer.waitForPort(keepAlivePort)
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var keepAliveURL: String { "http://127.0.0.1:\(keepAlivePort)" }

    /// The requests that reached it, in order: the number of the connection each came on, and its path.
    var log: [(connection: Int, path: String)] {
        ((try? String(contentsOf: requestsLog, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let number = Int(parts[0]) else { return nil }
            return (number, String(parts[1]))
        }
    }

    /// The paths of the requests that reached it, in order.
    var requests: [String] { log.map(\.path) }

    deinit {
        // The test process blocks SIGTERM, and its children with it: SIGKILL, then reap.
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(at: requestsLog)
    }
}

/// One run of Tests/Fixtures/ws_client.py, started now; `result` waits (bounded) for its JSON line.
final class WebSocketClientRun {
    private let process = Process()
    private let output = Pipe()

    init(_ mode: String, url: String, token: String? = nil, options: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["python3", Repository.fixture("ws_client.py"), mode, "--url", url]
        if let token { arguments += ["--token", token] }
        process.arguments = arguments + options
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The client's JSON answer, once it exits; it is killed if it has not within `seconds`. Its output is read as
    /// it comes: a client waited for first would block on a full pipe (64KiB) and never exit.
    func result(seconds: Double = 60) throws -> [String: Any] {
        let pid = process.processIdentifier
        let deadline = Date().addingTimeInterval(seconds)
        func giveUp() -> TestFailure {
            var status: Int32 = 0
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            return TestFailure("ws_client.py did not finish within \(seconds) s")
        }
        let fd = output.fileHandleForReading.fileDescriptor
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw giveUp() }
            var readable = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&readable, 1, Int32(min(remaining, 1) * 1000) + 1) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                data += buffer[0..<count]
            } else if count == 0 {
                break  // the client closed its output: it is exiting
            } else if errno != EINTR && errno != EAGAIN {
                throw TestFailure("reading ws_client.py's output failed: errno \(errno)")
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            guard Date() < deadline else { throw giveUp() }
            usleep(10_000)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
            throw TestFailure("ws_client.py printed \(String(decoding: data, as: UTF8.self))")
        }
        return object
    }

    deinit {
        let pid = process.processIdentifier
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == 0 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
    }
}

extension Repository {
    static func fixture(_ name: String) -> String {
        root.appendingPathComponent("Tests/Fixtures/\(name)").path
    }
}

extension RawClient {
    /// Asks `path` for a WebSocket upgrade (RFC 6455's sample key) and reads the answer: its head only when
    /// `expectingTunnel` (a 101's bytes that follow are the tunnel's), else the whole answer.
    /// `early` goes in the same write as the request head, before any answer; `halfClose` sends the client's end
    /// right after.
    func upgrade(
        _ path: String, token: String? = nil, expectingTunnel: Bool = true, halfClose: Bool = false,
        early: [UInt8] = []
    ) throws -> RawResponse {
        try sendUpgrade(path, token: token, early: early)
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        return try readResponse(head: expectingTunnel)
    }

    /// Sends the upgrade request of `upgrade` and reads nothing.
    func sendUpgrade(_ path: String, token: String? = nil, early: [UInt8] = []) throws {
        let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        let head =
            "GET \(path) HTTP/1.1\r\nHost: a\r\n\(authorization)Upgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try send(Array(head.utf8) + early)
    }

    /// Reads one unmasked frame, as a server sends it (RFC 6455 §5.2).
    func readFrame() throws -> (opcode: UInt8, payload: [UInt8]) {
        let start = try read(count: 2)
        var length = Int(start[1] & 0x7f)
        if length >= 126 {
            length = try read(count: length == 126 ? 2 : 8).reduce(0) { $0 << 8 | Int($1) }
        }
        return (start[0] & 0x0f, try read(count: length))
    }
}

/// Client frames for a raw WebSocket conversation (RFC 6455 §5.2).
enum WebSocketFrame {
    static let text: UInt8 = 1
    static let binary: UInt8 = 2

    /// One final frame, masked as a client's must be.
    static func client(_ opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = [0x80 | opcode]
        switch payload.count {
        case ..<126: frame.append(0x80 | UInt8(payload.count))
        case ..<65536: frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default: frame += [0x80 | 127] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: payload.count >> ($0 * 8)) }
        }
        let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
        return frame
    }
}

extension RunningGateway {
    /// Waits (bounded) until a series of /metrics reads `value`.
    func waitForMetric(_ series: String, _ value: Double, seconds: Double = 10) throws -> Bool {
        try waitFor(seconds: seconds) { try metric(series) == value }
    }
}
