import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Systemd's side of `$NOTIFY_SOCKET`: a datagram socket the test binds and reads.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8)).sock")
            .path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = withUnixAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else { throw TestFailure("bind \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Every message received until `predicate` holds for one (returned last), or nil after `seconds`.
    func waitFor(seconds: Double = 10, _ predicate: (String) -> Bool) -> [String]? {
        var seen: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let message = String(decoding: buffer[0..<count], as: UTF8.self)
            seen.append(message)
            if predicate(message) { return seen }
        }
        return nil
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

/// A route to the fixture's echo upstream (its base path /upstream), under `prefix`.
private func echoRoute(_ prefix: String, _ upstream: FixtureServer) -> String {
    """

    [[route]]
    prefix = "\(prefix)"
    upstream = "\(upstream.url)/upstream"
    auth = "none"
    """
}

@Suite(.serialized) struct OperationsTests {
    @Test func notifySocketHearsReadyWatchdogReloadingAndStopping() throws {
        let notify = try NotifySocket()
        let gateway = try RunningGateway(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"])
        let ready = try #require(notify.waitFor { $0.contains("READY=1") })
        #expect(ready.last?.contains("STATUS=serving on 127.0.0.1:\(gateway.publicPort)") == true)
        // Every 100 ms (half of WATCHDOG_USEC), once every loop has answered.
        var watchdogs = 0
        _ = notify.waitFor(seconds: 3) { message in
            if message == "WATCHDOG=1" { watchdogs += 1 }
            return watchdogs == 5
        }
        #expect(watchdogs == 5, "five pings within 3 s (one every 100 ms expected)")

        gateway.signal(SIGHUP)
        let reload = try #require(notify.waitFor { $0.contains("READY=1") })
        let reloading = try #require(reload.first { $0.contains("RELOADING=1") })
        let monotonic = reloading.split(separator: "\n").first { $0.hasPrefix("MONOTONIC_USEC=") }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(monotonic?.dropFirst("MONOTONIC_USEC=".count) ?? "") ?? 0
        #expect(microseconds > 0 && microseconds <= UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000)
        #expect(reload.last?.contains("configuration reloaded") == true)

        gateway.signal(SIGTERM)
        #expect(notify.waitFor { $0.contains("STOPPING=1") } != nil)
        #expect(gateway.terminate() == 0)
    }

    @Test func listeningSocketsFromSystemdReplaceTheConfiguredAddresses() throws {
        let activatedPort = try freePort()
        // Plays systemd: binds a public socket (fd 3, "web") and the configured admin address (fd 4, "admin"),
        // then execs authgate with LISTEN_* describing them. authgate binding the admin address itself would
        // fail (fd 4 holds it), so a healthy admin listener shows the descriptor was adopted.
        let wrapper = """
            import os, re, socket, sys
            def listening(port, fd):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                s.listen(128)
                descriptor = s.detach()  # the socket object must not close it when it goes
                if descriptor != fd:
                    os.dup2(descriptor, fd)
                    os.close(descriptor)
                os.set_inheritable(fd, True)
            config = open(sys.argv[-1]).read()
            admin_port = int(re.search(r'\\[admin\\]\\s*listen = "127.0.0.1:(\\d+)"', config).group(1))
            listening(int(sys.argv[1]), 3)
            listening(admin_port, 4)
            os.environ.update(LISTEN_FDS="2", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="web:admin")
            os.execv(sys.argv[2], sys.argv[2:])
            """
        let gateway = try RunningGateway(launcher: ["python3", "-c", wrapper, "\(activatedPort)"])
        #expect(try RawClient(port: activatedPort).exchange("GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        #expect(throws: (any Error).self, "server.listen is not bound when systemd passed a socket") {
            try RawClient(port: gateway.publicPort)
        }
        #expect(
            try RawClient(port: gateway.adminPort).exchange("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        #expect(
            gateway.log.contains("socket_activation=true") || gateway.log.contains("\"socket_activation\":\"true\""))
        #expect(gateway.log.contains("(fd 3 web)") && gateway.log.contains("(fd 4 admin)"))
    }

    @Test func reloadReplacesRoutesWithoutDroppingConnectionsOrRequests() throws {
        let upstream = try FixtureServer()
        let gateway = try RunningGateway(extra: echoRoute("/one", upstream))
        let kept = try RawClient(port: gateway.publicPort)
        #expect(try kept.exchange("GET /one HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        // An in-flight request: the upstream answers after 3 s, the reload happens meanwhile.
        let slow = try RawClient(port: gateway.publicPort)
        try slow.send("GET /one/upstream/slow HTTP/1.1\r\nHost: a\r\n\r\n")
        usleep(300_000)

        try gateway.rewriteConfig { $0.replacingOccurrences(of: "prefix = \"/one\"", with: "prefix = \"/two\"") }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reloaded"))
        #expect(try slow.readResponse().status == 200, "the request in flight during the reload finished")
        #expect(
            try kept.exchange("GET /one HTTP/1.1\r\nHost: a\r\n\r\n").status == 404,
            "the kept-alive connection sees the new routes")
        #expect(try kept.exchange("GET /two HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)

        // A bad file is refused and the running configuration stays.
        try gateway.rewriteConfig { $0 + "\n[bogus]\n" }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload refused"))
        #expect(try kept.exchange("GET /two HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        // So is a change that needs a restart.
        try gateway.rewriteConfig {
            $0.replacingOccurrences(of: "\n[bogus]\n", with: "").replacingOccurrences(
                of: "workers = 2", with: "workers = 1")
        }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("server.workers cannot change without a restart"))
        #expect(try kept.exchange("GET /two HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
    }

    @Test func reloadToAPoolWithoutKeysTakesOverAfterFiveSecondsAndTheNextReloadWaitsItsTurn() throws {
        let upstream = try FixtureServer()
        let gateway = try RunningGateway(extra: echoRoute("/one", upstream))
        // A new user pool whose JWKS cannot be fetched (the endpoint refuses): its generation waits for keys.
        try gateway.rewriteConfig { $0.replacingOccurrences(of: "us-east-1_Test", with: "us-east-1_Other") }
        let start = Date()
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload requested"))
        #expect(try gateway.status("/one/x") == 200, "the running generation answers meanwhile")
        // Asked while the first waits: it must not replace the same generation, but follow the first.
        try gateway.rewriteConfig { $0.replacingOccurrences(of: "prefix = \"/one\"", with: "prefix = \"/two\"") }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reloaded"))
        let waited = Date().timeIntervalSince(start)
        #expect(waited > 4.5 && waited < 8, "waited \(waited) s for keys that never came")
        #expect(gateway.waitForLog("reloaded", count: 2, seconds: 3))
        #expect(try gateway.status("/two/x") == 200)
        #expect(try gateway.status("/one/x") == 404)
    }

    @Test func reloadWaitingForKeysDoesNotHoldShutdownBack() throws {
        let gateway = try RunningGateway(server: "shutdown_grace = \"1s\"")
        try gateway.rewriteConfig { $0.replacingOccurrences(of: "us-east-1_Test", with: "us-east-1_Other") }
        gateway.signal(SIGHUP)
        #expect(gateway.waitForLog("reload requested"))
        usleep(300_000)
        let start = Date()
        #expect(gateway.terminate() == 0)
        let took = Date().timeIntervalSince(start)
        #expect(took < 3, "shutdown took \(took) s: the reload queue was blocked")
    }

    @Test func reloadUnderLoadLosesNoRequest() throws {
        let upstream = try FixtureServer()
        let gateway = try RunningGateway(extra: echoRoute("/api", upstream))
        let failures = Mutex<[String]>([])
        let answered = Mutex(0)
        let clients = DispatchGroup()
        let port = gateway.publicPort
        for _ in 0..<4 {
            DispatchQueue.global().async(group: clients) {
                do {
                    let client = try RawClient(port: port)
                    for _ in 0..<150 {
                        let status = try client.exchange("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n").status
                        if status != 200 { failures.withLock { $0.append("status \(status)") } }
                        answered.withLock { $0 += 1 }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        for round in 0..<5 {
            usleep(100_000)
            try gateway.rewriteConfig { $0 + echoRoute("/extra\(round)", upstream) }
            gateway.signal(SIGHUP)
        }
        #expect(clients.wait(timeout: .now() + 60) == .success)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(5))")
        #expect(answered.withLock { $0 } == 600)
        #expect(gateway.waitForLog("reloaded"))
        #expect(
            try RawClient(port: gateway.publicPort).exchange("GET /extra4 HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
    }

    @Test func sigtermLetsTheRequestInFlightFinishThenExitsZero() throws {
        let upstream = try FixtureServer()
        let gateway = try RunningGateway(extra: echoRoute("/api", upstream))
        let idle = try RawClient(port: gateway.publicPort)
        #expect(try idle.exchange("GET /api HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        let slow = try RawClient(port: gateway.publicPort)
        try slow.send("GET /api/upstream/slow HTTP/1.1\r\nHost: a\r\n\r\n")
        usleep(300_000)
        gateway.signal(SIGTERM)
        #expect(gateway.waitForLog("stopping"))
        #expect(try idle.isClosedByPeer(), "idle keep-alive connections are closed at once")
        #expect(throws: (any Error).self, "no new connection is accepted") { try RawClient(port: gateway.publicPort) }
        let answer = try slow.readResponse()
        #expect(answer.status == 200, "the request in flight finished")
        #expect(answer.header("Connection") == "close", "answers during the drain end their keep-alive connection")
        #expect(gateway.terminate() == 0)
    }
}

@Suite struct MetricsTests {
    @Test func metricsCountWhatHappenedWithBoundedLabels() throws {
        let signer = TestSigner(keyID: "metrics-key")
        let fixture = try FixtureServer(jwks: TestSigner.jwks([signer]))
        let gateway = try RunningGateway(
            extra: routes(upstream: fixture.url) + """

                [[route]]
                prefix = "/dead"
                upstream = "http://127.0.0.1:1"
                auth = "none"
                """,
            cognito: cognitoBlock(jwksURL: fixture.url + "/pool/jwks.json")
        )
        #expect(try waitUntilReady(gateway))
        let token = signer.token(TestSigner.claims())
        let expired = signer.token(TestSigner.claims { $0["exp"] = Int(Date().timeIntervalSince1970) - 3600 })
        #expect(try gateway.status("/api/orders/12345/random-segment", token: token) == 200)
        #expect(try gateway.status("/api/orders", token: token) == 200)
        #expect(try gateway.status("/api/orders") == 401)
        #expect(try gateway.status("/api/orders", token: expired) == 401)
        #expect(try gateway.status("/admin", token: token) == 403)
        #expect(try gateway.status("/nowhere/abc") == 404)
        #expect(try gateway.status("/dead") == 502)
        #expect(try gateway.status("/signin") == 405)
        // A route counted again after others: its counts are found again, not started anew.
        #expect(try gateway.status("/api/orders", token: token) == 200)

        let response = try RawClient(port: gateway.adminPort).exchange("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let text = response.bodyText
        let samples = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        func value(_ series: String) -> Double? {
            samples.first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        #expect(value(#"authgate_requests_total{route="/api",status="200"}"#) == 3)
        #expect(value(#"authgate_requests_total{route="/api",status="401"}"#) == 2)
        #expect(value(#"authgate_requests_total{route="none",status="404"}"#) == 1)
        #expect(value(#"authgate_requests_total{route="/signin",status="405"}"#) == 1)
        #expect(value(#"authgate_authorization_failures_total{reason="no_token"}"#) == 1)
        #expect(value(#"authgate_authorization_failures_total{reason="expired"}"#) == 1)
        #expect(value(#"authgate_authorization_failures_total{reason="groups_not_satisfied"}"#) == 1)
        #expect(value(#"authgate_upstream_errors_total{route="/dead",kind="failed"}"#) == 1)
        #expect(value(#"authgate_signins_total{result="method_not_allowed"}"#) == 1)
        #expect((value(#"authgate_jwks_refreshes_total{pool="us-east-1_Test",result="success"}"#) ?? 0) >= 1)
        #expect(value(#"authgate_jwks_keys{pool="us-east-1_Test"}"#) == 1)
        #expect(
            (value(#"authgate_jwks_last_success_timestamp_seconds{pool="us-east-1_Test"}"#) ?? 0)
                > Date().timeIntervalSince1970 - 60)
        #expect(value("authgate_token_cache_misses_total") == 2, "the valid token and the expired one were verified")
        #expect(value("authgate_token_cache_hits_total") == 3, "the valid token came back thrice (two 200s, one 403)")
        #expect(value("authgate_open_connections") != nil)
        #expect(value("authgate_revocations") == 0)
        #expect(value(#"authgate_request_duration_seconds_bucket{route="/api",le="+Inf"}"#) == 5)
        #expect(value(#"authgate_request_duration_seconds_count{route="/api"}"#) == 5)
        #expect(!text.contains("random-segment") && !text.contains("/nowhere"), "routes by prefix, never raw paths")
        // Every family is announced, every sample line is well formed.
        for family in [
            "requests_total", "request_duration_seconds", "authorization_failures_total", "upstream_errors_total",
            "jwks_refreshes_total", "signins_total", "open_connections", "jwks_keys",
            "jwks_last_success_timestamp_seconds",
            "token_cache_hits_total", "token_cache_misses_total", "signouts_total", "revocations",
        ] {
            #expect(text.contains("# TYPE authgate_\(family) "), "\(family)")
            #expect(text.contains("# HELP authgate_\(family) "), "\(family)")
        }
        let wellFormed = try Regex(#"^authgate_[a-z_]+(\{([a-z_]+="[^"\\\n]*",?)+\})? [0-9.e+-]+$"#)
        for sample in samples { #expect(sample.wholeMatch(of: wellFormed) != nil, "\(sample)") }
    }
}
