import Foundation
import HTTPClient
import Testing
import Time

@testable import AWS

#if canImport(Glibc)
    import Glibc
#endif

/// `credential_process` with real helper scripts: what they print, how they end, and how authgate ends them.
@Suite struct CredentialProcessTests {
    /// A temporary directory (its name has a space, as paths sometimes do) with a config file and helpers.
    final class Workspace: @unchecked Sendable {
        let directory: URL
        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("creds process \(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: directory) }

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        /// An executable `/bin/sh` script; each run appends a line to `<name>.runs`.
        @discardableResult func script(_ name: String, _ body: String) throws -> String {
            let file = path(name)
            try "#!/bin/sh\necho run >> '\(file).runs'\n\(body)\n".write(
                toFile: file, atomically: true, encoding: .utf8)
            chmod(file, 0o755)
            return file
        }

        func runs(_ name: String) -> Int {
            let text = (try? String(contentsOfFile: path(name) + ".runs", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").count
        }

        /// A config file whose `[default]` profile runs `commandLine`; the environment that reads it.
        func environment(commandLine: String, extra: [String: String] = [:]) throws -> [String: String] {
            try "[default]\nregion = eu-west-1\ncredential_process = \(commandLine)\n".write(
                toFile: path("config"), atomically: true, encoding: .utf8)
            return [
                "HOME": "/nonexistent", "AWS_CONFIG_FILE": path("config"), "PATH": "/usr/bin:/bin",
                "AWS_SHARED_CREDENTIALS_FILE": path("no-credentials"), "AWS_EC2_METADATA_DISABLED": "true",
            ].merging(extra) { $1 }
        }
    }

    static func answer(expiresIn seconds: Int?, keyID: String = "AKIDPROCESS") -> String {
        answer(expiresAt: seconds.map { SystemClock.unixSeconds() + $0 }, keyID: keyID)
    }

    static func answer(expiresAt expiration: Int?, keyID: String = "AKIDPROCESS") -> String {
        var fields = #""Version": 1, "AccessKeyId": "\#(keyID)", "SecretAccessKey": "process-secret""#
        if let expiration {
            var clock = SystemClock()
            let time = clock.iso8601(wallClockNanoseconds: Int64(expiration) * 1_000_000_000)
            fields += #", "SessionToken": "process-token", "Expiration": "\#(time)""#
        }
        return "{\(fields)}"
    }

    func resolve(_ provider: CredentialProvider) async -> Result<AWSCredentials, CredentialError> {
        await withCheckedContinuation { continuation in provider.credentials { continuation.resume(returning: $0) } }
    }

    func provider(_ environment: [String: String], timeoutMilliseconds: Int = 10_000) -> CredentialProvider {
        CredentialProvider(
            environment: environment, client: ControlPlaneClientForTests.shared,
            processLimits: CredentialProcess.Limits(timeoutMilliseconds: timeoutMilliseconds, maxOutputBytes: 4096))
    }

    func failure(_ result: Result<AWSCredentials, CredentialError>) -> String {
        if case .failure(let error) = result { return error.description }
        return "no failure"
    }

    @Test func goodAnswerIsKeptUntilNearItsExpiration() async throws {
        let workspace = try Workspace()
        let expiration = SystemClock.unixSeconds() + 3600
        let helper = try workspace.script(
            "helper script",
            """
            printf '%s\\n' "$@" > '\(workspace.path("arguments"))'
            { env; readlink /proc/self/fd/0; } > '\(workspace.path("environment"))'
            echo '\(Self.answer(expiresAt: expiration))'
            """)
        let provider = provider(
            try workspace.environment(
                commandLine: "\"\(helper)\" --role 'read only' plain\\ word \"a \\\"b\\\"\"",
                extra: [
                    "AWS_REGION": "eu-west-3", "AUTHGATE_CLIENT_SECRET": "cognito-client-secret",
                    "NOTIFY_SOCKET": "/run/systemd/notify",
                ]))
        let first = try await resolve(provider).get()
        #expect(first.accessKeyID == "AKIDPROCESS" && first.secretAccessKey == "process-secret")
        #expect(first.sessionToken == "process-token" && first.source == "credential_process of profile default")
        #expect(first.expiration == expiration)
        let arguments = try String(contentsOfFile: workspace.path("arguments"), encoding: .utf8)
        #expect(arguments == "--role\nread only\nplain word\na \"b\"\n")
        // The daemon's environment but for authgate's own secrets; nothing to read on standard input.
        let environment = try String(contentsOfFile: workspace.path("environment"), encoding: .utf8)
        #expect(environment.contains("AWS_REGION=eu-west-3\n") && !environment.contains("cognito-client-secret"))
        #expect(!environment.contains("NOTIFY_SOCKET"))
        #expect(environment.hasSuffix("/dev/null\n"))
        // An hour left: the second call is answered from the cache.
        _ = try await resolve(provider).get()
        #expect(workspace.runs("helper script") == 1)
    }

    @Test func expirationInsideTheMarginRunsTheProcessAgain() async throws {
        let workspace = try Workspace()
        let helper = try workspace.script("soon", "echo '\(Self.answer(expiresIn: 60))'")
        let provider = provider(try workspace.environment(commandLine: "\"\(helper)\""))
        #expect(try await resolve(provider).get().expiration != nil)
        #expect(try await resolve(provider).get().expiration != nil)
        #expect(workspace.runs("soon") == 2)
    }

    @Test func alreadyExpiredCredentialsAreRefusedAndAskedForAgain() async throws {
        let workspace = try Workspace()
        let helper = try workspace.script("stale", "echo '\(Self.answer(expiresIn: -10))'")
        let provider = provider(try workspace.environment(commandLine: "\"\(helper)\""))
        #expect(failure(await resolve(provider)).contains("expired"))
        #expect(failure(await resolve(provider)).contains("expired"))
        #expect(workspace.runs("stale") == 2)
    }

    @Test func longTermKeysNeedNoExpiration() async throws {
        let workspace = try Workspace()
        let helper = try workspace.script("static", "echo '\(Self.answer(expiresIn: nil))'")
        let credentials = try await resolve(provider(try workspace.environment(commandLine: "\"\(helper)\""))).get()
        #expect(credentials.expiration == nil && credentials.sessionToken == nil)
    }

    @Test(arguments: [
        ("not json", "not a JSON object"),
        (#"{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "S"}"#, "Version is not 1"),
        (#"{"Version": 1, "AccessKeyId": "A"}"#, "lacks AccessKeyId or SecretAccessKey"),
        (#"{"Version": 1, "AccessKeyId": "A", "AccessKeyId": "B", "SecretAccessKey": "S"}"#, "not a JSON object"),
        (#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "Expiration": "tomorrow"}"#, "RFC 3339"),
        (#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": 7}"#, "not a string"),
    ])
    func badAnswersAreRefused(output: String, reason: String) async throws {
        let workspace = try Workspace()
        let helper = try workspace.script("bad", "cat <<'END'\n\(output)\nEND")
        let message = failure(await resolve(provider(try workspace.environment(commandLine: "\"\(helper)\""))))
        #expect(message.contains(reason), "\(message)")
        #expect(!message.contains("\"S\""))
    }

    @Test func nonZeroExitIsAFailureWhateverItPrinted() async throws {
        let workspace = try Workspace()
        let helper = try workspace.script(
            "failing", "echo '\(Self.answer(expiresIn: 3600))'\necho 'secret-in-stderr' >&2\nexit 3")
        let message = failure(await resolve(provider(try workspace.environment(commandLine: "\"\(helper)\""))))
        #expect(message.contains("exited with status 3"), "\(message)")
        #expect(!message.contains("secret-in-stderr") && !message.contains("process-secret"))
    }

    /// The helper and the child it started are both gone once the timeout has passed, even with its output closed.
    @Test(arguments: ["", "exec >&-\n"])
    func aHangingProcessIsKilledAtTheTimeout(closesOutputFirst: String) async throws {
        let workspace = try Workspace()
        let pidFile = workspace.path("sleeper.pid")
        let helper = try workspace.script("hang", "\(closesOutputFirst)sleep 60 &\necho $! > '\(pidFile)'\nwait")
        let started = SystemClock.monotonicNanoseconds()
        let message = failure(
            await resolve(provider(try workspace.environment(commandLine: "\"\(helper)\""), timeoutMilliseconds: 700)))
        let elapsed = Double(SystemClock.monotonicNanoseconds() - started) / 1e9
        #expect(message.contains("did not finish within 700 ms"), "\(message)")
        // Only "before the helper's own 60 s": a bound of seconds would measure the machine's load, not the kill.
        #expect(elapsed >= 0.7 && elapsed < 30)
        let sleeper = try #require(
            pid_t(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Self.exits(sleeper, withinMilliseconds: 5000))
    }

    /// Whether `pid` (not a child of this process) is gone or a zombie within the time: a pidfd becomes readable
    /// when the process exits, so this waits for the event rather than polling for it.
    static func exits(_ pid: pid_t, withinMilliseconds timeout: Int32) -> Bool {
        typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_open") else { return false }
        let descriptor = unsafeBitCast(symbol, to: PidfdOpen.self)(pid, 0)
        if descriptor < 0 { return errno == ESRCH }
        defer { close(descriptor) }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, timeout) == 1
    }

    @Test func oversizedOutputIsCutOff() async throws {
        let workspace = try Workspace()
        let helper = try workspace.script("chatty", "exec yes")
        let message = failure(await resolve(provider(try workspace.environment(commandLine: "\"\(helper)\""))))
        #expect(message.contains("more than 4096 bytes"), "\(message)")
    }

    @Test func namedProfileAndProgramFoundInPath() async throws {
        let workspace = try Workspace()
        try workspace.script("helper-in-path", "echo '\(Self.answer(expiresIn: 3600, keyID: "AKIDWORK"))'")
        try "[default]\ncredential_process = /bin/false\n[profile work]\ncredential_process = helper-in-path --x\n"
            .write(toFile: workspace.path("config"), atomically: true, encoding: .utf8)
        let environment = [
            "HOME": "/nonexistent", "AWS_CONFIG_FILE": workspace.path("config"), "AWS_PROFILE": "work",
            "PATH": "/nonexistent:\(workspace.directory.path)", "AWS_EC2_METADATA_DISABLED": "true",
        ]
        let credentials = try await resolve(provider(environment)).get()
        #expect(credentials.accessKeyID == "AKIDWORK" && credentials.source == "credential_process of profile work")
        let missing = failure(await resolve(provider(environment.merging(["PATH": "/nonexistent"]) { $1 })))
        #expect(missing.contains("not an executable file"), "\(missing)")
    }

    @Test(arguments: [
        ("/bin/helper", ["/bin/helper"]),
        ("  a   b\tc  ", ["a", "b", "c"]),
        (#""C:\Path With Space\x" 'it''s' "a\nb""#, [#"C:\Path With Space\x"#, "its", #"a\nb"#]),
        (#"a\ b "q\"uote" "back\\slash" ''"#, ["a b", "q\"uote", #"back\slash"#, ""]),
        ("$HOME ~ *.sh a|b", ["$HOME", "~", "*.sh", "a|b"]),
    ])
    func commandLinesSplitAsTheCLIDoes(line: String, words: [String]) {
        #expect(CredentialProcess.split(line) == words)
    }

    @Test(arguments: [#""unterminated"#, "'unterminated", #"trailing\"#])
    func unterminatedQuotesAreRefused(line: String) {
        #expect(CredentialProcess.split(line) == nil)
    }
}
