import Foundation
import TestSupport
import Testing

/// The unit files in systemd/: checked by systemd's own parser, and the hardening they ask for checked
/// against the real binary where this machine can (no systemd runs here as PID 1).
@Suite struct SystemdUnitTests {
    /// The units with ExecStart pointing at the binary under test (verify checks that it is executable).
    func unitsForVerification() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("units-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let service = try String(
            contentsOf: Repository.root.appendingPathComponent("systemd/authgate.service"), encoding: .utf8)
        try service.replacingOccurrences(of: "/usr/local/bin/authgate", with: Repository.binary)
            .write(to: directory.appendingPathComponent("authgate.service"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: Repository.root.appendingPathComponent("systemd/authgate.socket"),
            to: directory.appendingPathComponent("authgate.socket")
        )
        return directory
    }

    func systemdAnalyze(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try shell(["systemd-analyze"] + arguments)
    }

    @Test func unitsPassSystemdAnalyzeVerify() throws {
        let directory = try unitsForVerification()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try systemdAnalyze([
            "verify", directory.appendingPathComponent("authgate.service").path,
            directory.appendingPathComponent("authgate.socket").path,
        ])
        // verify exits 0 even for lines it ignores ("Failed to parse … ignoring"): any output is a failure.
        #expect(result.status == 0 && result.output.isEmpty, "\(result.output)")
        let service = try String(contentsOf: directory.appendingPathComponent("authgate.service"), encoding: .utf8)
        for line in [
            "Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=", "Restart=on-failure",
            "DynamicUser=yes",
            "LoadCredential=client_secret:", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "CapabilityBoundingSet=\n",
            "SystemCallFilter=@system-service",
            "MemoryDenyWriteExecute=yes",
        ] {
            #expect(service.contains(line), "authgate.service lacks \(line)")
        }
    }

    @Test func exposureScoreIsLow() throws {
        let directory = try unitsForVerification()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try systemdAnalyze([
            "security", "--offline=true", directory.appendingPathComponent("authgate.service").path,
        ])
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = Double(line.split(separator: ":")[1].split(separator: " ")[0]) ?? 10
        #expect(score <= 2.0, "\(line)")
    }

    /// MemoryDenyWriteExecute= refuses writable-and-executable memory. The kernel's PR_SET_MDWE does the same
    /// for one process and its exec'd program: the gateway must fetch a JWKS (libcurl), verify a token (OpenSSL)
    /// and forward (Swift, Dispatch) under it.
    @Test func theGatewayRunsWithMemoryDenyWriteExecute() throws {
        let mdwe = """
            import ctypes, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
                sys.exit("prctl(PR_SET_MDWE) failed: errno %d" % ctypes.get_errno())
            os.execv(sys.argv[1], sys.argv[1:])
            """
        let signer = TestSigner(keyID: "mdwe-key")
        let fixture = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            extra: routes(upstream: fixture.url), cognito: cognitoBlock(jwksURL: fixture.url + "/pool/jwks.json"),
            launcher: ["python3", "-c", mdwe]
        )
        #expect(try waitUntilReady(gateway))
        let status = try String(contentsOfFile: "/proc/\(gateway.process.processIdentifier)/status", encoding: .utf8)
        #expect(status.contains("authgate"), "the exec'd process is authgate")
        let token = signer.token(TestSigner.claims())
        let answer = try RawClient(port: gateway.publicPort).exchange(
            "GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\n\r\n")
        #expect(answer.status == 200)
        #expect(gateway.process.isRunning)
    }
}

/// `SystemCallFilter=@system-service` and `~@privileged`, and `ProcSubset=pid`, checked against what the gateway
/// really does: it runs under strace through a start, a verified and forwarded request, /metrics, a sign-in
/// attempt, a reload and a stop; every system call it made must be in the set the unit allows, every file it
/// opened under /proc must be a process's own, and nothing may be opened for writing (ProtectSystem=strict).
@Suite struct SystemCallFilterTests {
    /// The system calls of a filter group, nested groups expanded, as systemd-analyze lists them.
    func expand(_ group: String) throws -> Set<String> {
        let listing = try shell(["systemd-analyze", "syscall-filter", group])
        var calls: Set<String> = []
        for line in listing.output.split(separator: "\n").dropFirst() {
            let item = line.trimmingCharacters(in: .whitespaces)
            if item.isEmpty || item.hasPrefix("#") { continue }
            if item.hasPrefix("@") { calls.formUnion(try expand(item)) } else { calls.insert(item) }
        }
        return calls
    }

    @Test func everySystemCallAndProcFileTheGatewayUsesIsAllowed() throws {
        let trace = FileManager.default.temporaryDirectory.appendingPathComponent("syscalls-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: trace) }
        let signer = TestSigner(keyID: "filter-key")
        let fixture = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            extra: routes(upstream: fixture.url), cognito: cognitoBlock(jwksURL: fixture.url + "/pool/jwks.json"),
            environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"],
            launcher: ["strace", "-f", "-qq", "-o", trace.path]
        )
        #expect(try waitUntilReady(gateway))
        let token = signer.token(TestSigner.claims())
        #expect(
            try RawClient(port: gateway.publicPort).exchange(
                "GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\n\r\n"
            ).status == 200)
        #expect(
            try RawClient(port: gateway.adminPort).exchange("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        let body = #"{"username":"a","password":"b"}"#
        _ = try RawClient(port: gateway.publicPort).exchange(
            "POST /signin HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n\(body)")
        // The gateway is strace's child: signals go to it, not to strace.
        let child = try shell(["pgrep", "-P", "\(gateway.process.processIdentifier)"]).output.trimmingCharacters(
            in: .whitespacesAndNewlines)
        let pid = try #require(Int32(child))
        kill(pid, SIGHUP)
        #expect(gateway.waitForLog("reloaded"))
        kill(pid, SIGTERM)
        #expect(gateway.terminate() == 0)

        let text = try String(contentsOf: trace, encoding: .utf8)
        var used: Set<String> = []
        for line in text.split(separator: "\n") {
            // "1234  name(args…) = result": the name is the word before the first parenthesis.
            let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard fields.count == 2, let paren = fields[1].firstIndex(of: "(") else { continue }
            let name = fields[1][..<paren].trimmingCharacters(in: .whitespaces)
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { used.insert(name) }
        }
        #expect(used.count > 30, "strace saw \(used.count) system calls")
        let allowed = try expand("@system-service").subtracting(try expand("@privileged"))
        let refused = used.subtracting(allowed)
        #expect(refused.isEmpty, "calls the unit's filter would refuse: \(refused.sorted())")

        // ProcSubset=pid hides everything in /proc that is not a process directory.
        let procPaths = try Regex(#""(/proc/[^"]*)""#)
        let processDirectory = try Regex(#"^/proc/(self|thread-self|[0-9]+)(/.*)?$"#)
        let opened = text.split(separator: "\n").filter { $0.contains("open") }.flatMap { line in
            line.matches(of: procPaths).map { String($0.output[1].substring ?? "") }
        }
        #expect(!opened.isEmpty, "the trace shows the /proc files the runtime opens")
        let hidden = opened.filter { $0.wholeMatch(of: processDirectory) == nil }
        #expect(hidden.isEmpty, "files ProcSubset=pid would hide: \(Set(hidden).sorted())")

        // ProtectSystem=strict makes the file system read-only: the gateway opens nothing for writing. (Under
        // scripts/sanitize thread, ThreadSanitizer's runtime maps a file of its own: not the gateway's doing.)
        let writes = text.split(separator: "\n").filter { line in
            line.contains("open") && ["O_WRONLY", "O_RDWR", "O_CREAT"].contains { line.contains($0) }
                && !line.contains("/tsan.rodata.")
        }
        #expect(writes.isEmpty, "files opened for writing: \(writes.prefix(5))")
    }
}
