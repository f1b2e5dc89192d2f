import Encoding

#if canImport(Glibc)
    import Glibc
#endif

/// `credential_process` of a shared-file profile (SPEC.md "Secrets"). The command line is split into words the way
/// the AWS CLI (botocore's `shlex.split`) does and run without a shell: words are separated by unquoted
/// whitespace, `'…'` is literal, `"…"` keeps everything but `\"` and `\\`, and a backslash outside quotes keeps
/// the character after it. `$VAR`, `~`, globs and pipes mean nothing, as the CLI guide asks of a portable
/// line; the Go, Java and Rust SDKs hand the line to `sh -c` instead, where they would.
package struct CredentialProcess: Sendable {
    package struct Limits: Sendable {
        /// The whole run, output and exit included; the process group is killed at the end of it.
        package var timeoutMilliseconds: Int
        package var maxOutputBytes: Int

        package init(timeoutMilliseconds: Int = 10_000, maxOutputBytes: Int = 64 << 10) {
            self.timeoutMilliseconds = timeoutMilliseconds
            self.maxOutputBytes = maxOutputBytes
        }
    }

    let words: [String]
    let profile: String

    init(commandLine: String, profile: String) throws(CredentialError) {
        guard let words = Self.split(commandLine) else {
            throw CredentialError("profile \(profile): credential_process has an unterminated quote or escape")
        }
        guard !words.isEmpty else { throw CredentialError("profile \(profile): credential_process is empty") }
        self.words = words
        self.profile = profile
    }

    var source: String { "credential_process of profile \(profile)" }

    /// Runs the command and reads its answer. Blocking: called on the chain's process queue.
    func credentials(environment: [String: String], limits: Limits) -> Result<AWSCredentials, CredentialError> {
        guard let executable = Self.executablePath(words[0], searchPath: environment["PATH"]) else {
            return .failure(CredentialError("\(source): \(words[0]) is not an executable file"))
        }
        let child = ChildProcess(
            executable: executable, arguments: Array(words.dropFirst()),
            environment: Self.childEnvironment(environment),
            timeoutMilliseconds: limits.timeoutMilliseconds, maxOutputBytes: limits.maxOutputBytes)
        switch child.run() {
        case .failure(let error):
            return .failure(CredentialError("\(source): \(error.description)"))
        case .success(let outcome) where outcome.ending != .exited(0):
            // Its standard error went to /dev/null: a failing helper may print what it was given there.
            let ending: String
            switch outcome.ending {
            case .exited(let code): ending = "exited with status \(code)"
            case .killedBySignal(let signal): ending = "was killed by signal \(signal)"
            }
            return .failure(CredentialError("\(source): \(executable) \(ending)"))
        case .success(let outcome):
            return Self.parseOutput(outcome.output, source: source)
        }
    }

    /// The daemon's environment, as the SDKs pass theirs, less what is authgate's alone: its own settings
    /// (`AUTHGATE_CLIENT_SECRET`) and systemd's hand-over to the main process, which a child must not act on.
    static func childEnvironment(_ environment: [String: String]) -> [String: String] {
        let systemdOnly: Set = [
            "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID",
        ]
        return environment.filter { !$0.key.hasPrefix("AUTHGATE_") && !systemdOnly.contains($0.key) }
    }

    /// The `Version: 1` document: `AccessKeyId`, `SecretAccessKey`, optional `SessionToken` and `Expiration`.
    static func parseOutput(_ output: [UInt8], source: String) -> Result<AWSCredentials, CredentialError> {
        guard let document = try? StrictJSON.parse(output), let fields = document.object else {
            return .failure(CredentialError("\(source): the output is not a JSON object"))
        }
        guard fields["Version"]?.number == 1 else {
            return .failure(CredentialError("\(source): the output's Version is not 1"))
        }
        guard let keyID = fields["AccessKeyId"]?.string, let secret = fields["SecretAccessKey"]?.string,
            !keyID.isEmpty, !secret.isEmpty
        else {
            return .failure(CredentialError("\(source): the output lacks AccessKeyId or SecretAccessKey"))
        }
        var sessionToken: String?
        if let token = fields["SessionToken"] {
            guard let text = token.string else {
                return .failure(CredentialError("\(source): the output's SessionToken is not a string"))
            }
            sessionToken = text.isEmpty ? nil : text
        }
        var expiration: Int?
        if let value = fields["Expiration"] {
            guard let text = value.string, let seconds = RFC3339Timestamp.unixSeconds(text) else {
                return .failure(CredentialError("\(source): the output's Expiration is not an RFC 3339 time"))
            }
            expiration = seconds
        }
        return .success(
            AWSCredentials(
                accessKeyID: keyID, secretAccessKey: secret, sessionToken: sessionToken, expiration: expiration,
                source: source))
    }

    /// POSIX shell words without expansion (Python's `shlex.split`); nil for an unterminated quote or escape.
    static func split(_ line: String) -> [String]? {
        var words: [String] = []
        var word: [Character] = []
        var inWord = false
        var characters = line.makeIterator()
        while let character = characters.next() {
            switch character {
            case " ", "\t", "\n", "\r", "\r\n":
                if inWord { words.append(String(word)) }
                word = []
                inWord = false
            case "'":
                inWord = true
                while true {
                    guard let next = characters.next() else { return nil }
                    if next == "'" { break }
                    word.append(next)
                }
            case "\"":
                inWord = true
                while true {
                    guard let next = characters.next() else { return nil }
                    if next == "\"" { break }
                    if next == "\\" {
                        guard let escaped = characters.next() else { return nil }
                        if escaped != "\"" && escaped != "\\" { word.append("\\") }
                        word.append(escaped)
                    } else {
                        word.append(next)
                    }
                }
            case "\\":
                guard let escaped = characters.next() else { return nil }
                inWord = true
                word.append(escaped)
            default:
                inWord = true
                word.append(character)
            }
        }
        if inWord { words.append(String(word)) }
        return words
    }

    /// `program` itself when it holds a `/`, else the first executable `program` in the child's `PATH`.
    static func executablePath(_ program: String, searchPath: String?) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        for directory in (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
