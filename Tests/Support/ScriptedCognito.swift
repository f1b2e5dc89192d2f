import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Tests/Fixtures/cognito_script.py on a free loopback port: a small user pool that answers as Cognito does, after
/// the bad moments the test scripts for each operation (throttling, 5xx, dropped connections, slow answers).
public final class ScriptedCognito: @unchecked Sendable {
    public let port: UInt16
    private let process = Process()
    private let directory: URL

    /// One request the fixture received, in order.
    public struct Request: Decodable, Equatable, Sendable {
        public let operation: String
        public let flow: String?
        public let step: String
        public let username: String?
    }

    /// `script` maps an operation ("SignUp", "AdminInitiateAuth", "InitiateAuth:REFRESH_TOKEN_AUTH"…) to the steps
    /// its next requests get ("throttle", "500", "close", "slow:2", "exception:Name"), then "ok".
    public init(script: [String: [String]] = [:]) throws {
        port = try FixtureServer.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cognito-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let scriptFile = directory.appendingPathComponent("script.json")
        try JSONEncoder().encode(script).write(to: scriptFile)
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/cognito_script.py")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", fixture.path, "--port", "\(port)", "--script", scriptFile.path, "--log", logFile.path,
            "--state", stateFile.path,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = output.fileHandleForReading.availableData  // "ready"
        try FixtureServer.waitForPort(port)
    }

    public var endpoint: String { "http://127.0.0.1:\(port)" }
    private var logFile: URL { directory.appendingPathComponent("requests.jsonl") }
    private var stateFile: URL { directory.appendingPathComponent("users.json") }

    /// Every request so far, in the order they arrived.
    public func requests() throws -> [Request] {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    /// The operations received so far, with the flow for the InitiateAuth ones ("AdminInitiateAuth:REFRESH_TOKEN_AUTH").
    public func operations() throws -> [String] {
        try requests().map { request in request.flow.map { "\(request.operation):\($0)" } ?? request.operation }
    }

    /// Whether the pool holds `username` confirmed; nil when it does not hold them at all.
    public func isConfirmed(_ username: String) throws -> Bool? {
        struct User: Decodable { let confirmed: Bool }
        let users = try JSONDecoder().decode([String: User].self, from: Data(contentsOf: stateFile))
        return users[username]?.confirmed
    }

    deinit {
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(at: directory)
    }
}
