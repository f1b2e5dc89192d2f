import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real binary on loopback, spoken to in raw bytes.
@Suite(.serialized) struct ServerIntegrationTests {
    @Test func unmatchedRequestGetsAPIGatewayNotFound() throws {
        let gateway = try RunningGateway()
        let response = try RawClient(port: gateway.publicPort).exchange("GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(response.status == 404)
        #expect(response.bodyText == #"{"message":"Not Found"}"#)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("X-Request-Id")?.count == 36)
        #expect(response.header("Date")?.hasSuffix("GMT") == true)
    }

    @Test func adminAnswersHealthAndReadinessButThePublicListenerDoesNot() throws {
        let gateway = try RunningGateway()
        let admin = try RawClient(port: gateway.adminPort)
        let health = try admin.exchange("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(health.status == 200 && health.bodyText == "ok\n")
        // This gateway's JWKS endpoint is unreachable: not ready, and it says why.
        let ready = try admin.exchange("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(ready.status == 503)
        #expect(ready.bodyText.contains("signing_keys"))
        let publicHealth = try RawClient(port: gateway.publicPort).exchange("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(publicHealth.status == 404)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let gateway = try RunningGateway()
        let client = try RawClient(port: gateway.publicPort)
        let requests = (1...5).map { "GET /\($0) HTTP/1.1\r\nHost: a\r\nX-Request-Id: req-\($0)\r\n\r\n" }.joined()
        try client.send(requests + "POST /6 HTTP/1.1\r\nHost: a\r\nX-Request-Id: req-6\r\nContent-Length: 3\r\n\r\nabc")
        for index in 1...6 {
            let response = try client.readResponse()
            #expect(response.status == 404)
            #expect(response.header("X-Request-Id") == "req-\(index)")
        }
        // And the connection is still usable.
        #expect(try client.exchange("GET /7 HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
    }

    @Test func invalidClientRequestIdIsReplaced() throws {
        let gateway = try RunningGateway()
        let response = try RawClient(port: gateway.publicPort)
            .exchange("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: bad id!\r\n\r\n")
        #expect(response.header("X-Request-Id") != "bad id!")
        #expect(response.header("X-Request-Id")?.count == 36)
    }

    @Test func http10ClosesUnlessKeepAliveIsAsked() throws {
        let gateway = try RunningGateway()
        let plain = try RawClient(port: gateway.publicPort)
        let first = try plain.exchange("GET / HTTP/1.0\r\n\r\n")
        #expect(first.header("Connection") == "close")
        #expect(try plain.isClosedByPeer())

        let keepAlive = try RawClient(port: gateway.publicPort)
        let kept = try keepAlive.exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(kept.header("Connection") == "keep-alive")
        #expect(try keepAlive.exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").status == 404)
    }

    @Test(arguments: [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\n\n",
    ])
    func ambiguousRequestGets400AndTheConnectionCloses(request: String) throws {
        let gateway = try RunningGateway()
        let client = try RawClient(port: gateway.publicPort)
        // A smuggled second request rides behind: it must never be answered.
        try client.send(request + "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 400)
        #expect(response.bodyText == #"{"message":"Bad Request"}"#)
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
    }

    @Test func limitsAnswer414And431And413() throws {
        let gateway = try RunningGateway(server: "max_header_bytes = \"4KiB\"\nmax_body_bytes = 100")
        let longTarget = "GET /" + String(repeating: "a", count: 5000) + " HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(try RawClient(port: gateway.publicPort).exchange(longTarget).status == 414)
        let bigHead = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "b", count: 5000) + "\r\n\r\n"
        #expect(try RawClient(port: gateway.publicPort).exchange(bigHead).status == 431)
        let bigBody = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n"
        let tooLarge = try RawClient(port: gateway.publicPort).exchange(bigBody)
        #expect(tooLarge.status == 413 && tooLarge.bodyText == #"{"message":"Content Too Large"}"#)
        let chunks =
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + String(repeating: "x", count: 64)
            + "\r\n40\r\n" + String(repeating: "y", count: 64) + "\r\n0\r\n\r\n"
        // No route: the answer is given on the head, before any body byte is decoded, and a chunked body's size
        // is not known then. The 404 is the one answer; the body is discarded, and passing the limit ends the
        // connection instead of a second answer.
        let client = try RawClient(port: gateway.publicPort)
        try client.send(chunks)
        let first = try client.readResponse()
        #expect(first.status == 404 && first.bodyText == #"{"message":"Not Found"}"#)
        #expect(try client.isClosedByPeer(), "no 413 follows the 404, and the connection closes")
    }

    @Test func slowHeadGets408AndSilentClientIsClosed() throws {
        let gateway = try RunningGateway(server: "header_timeout = \"300ms\"")
        let slow = try RawClient(port: gateway.publicPort)
        try slow.send("GET / HTTP/1.1\r\nHost: a\r\n")
        let response = try slow.readResponse()
        #expect(response.status == 408)
        #expect(try slow.isClosedByPeer())

        let silent = try RawClient(port: gateway.publicPort)
        #expect(try silent.isClosedByPeer())
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        let gateway = try RunningGateway(server: "idle_timeout = \"300ms\"")
        let client = try RawClient(port: gateway.publicPort)
        #expect(try client.exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        let start = Date()
        #expect(try client.isClosedByPeer())
        #expect(Date().timeIntervalSince(start) < 4)
    }

    @Test func slowlorisDoesNotHoldTheLoops() throws {
        let gateway = try RunningGateway(server: "header_timeout = \"5s\"")
        var trickling: [RawClient] = []
        for _ in 0..<200 {
            let client = try RawClient(port: gateway.publicPort)
            try client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            trickling.append(client)
        }
        let fresh = try RawClient(port: gateway.publicPort, timeoutSeconds: 2)
        #expect(try fresh.exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        withExtendedLifetime(trickling) {}
    }

    @Test func connectionsPastTheLimitAreRefused() throws {
        let gateway = try RunningGateway(server: "max_connections = 2")
        let first = try RawClient(port: gateway.publicPort)
        let second = try RawClient(port: gateway.publicPort)
        #expect(try first.exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        #expect(try second.exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        let third = try RawClient(port: gateway.publicPort)
        try? third.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try third.isClosedByPeer())
        // The admin listener has its own budget and still answers.
        #expect(
            try RawClient(port: gateway.adminPort).exchange("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        withExtendedLifetime((first, second)) {}
    }

    @Test func expectContinueAnsweredWithoutReadingTheBodyClosesTheConnection() throws {
        let gateway = try RunningGateway()
        let client = try RawClient(port: gateway.publicPort)
        try client.send("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 404)
        #expect(response.header("Connection") == "close")
    }

    @Test func headResponseHasNoBody() throws {
        let gateway = try RunningGateway()
        let client = try RawClient(port: gateway.publicPort)
        try client.send("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try client.readResponse(head: true)
        #expect(head.status == 404 && head.header("Content-Length") == "23")
        let get = try client.readResponse()
        #expect(get.bodyText == #"{"message":"Not Found"}"#)
    }

    @Test func unixAndIPv6ListenersServeToo() throws {
        let v6Port = try freePort()
        let gateway = try RunningGateway(listenUnix: true, listenIPv6Port: v6Port)
        #expect(try RawClient(unixPath: gateway.unixSocket).exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        if let v6 = try? RawClient(port: v6Port, host: "::1") {
            #expect(try v6.exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        }
    }

    @Test func accessLogHasTheFieldsAndNeverTheToken() throws {
        let gateway = try RunningGateway()
        let client = try RawClient(port: gateway.publicPort)
        _ = try client.exchange(
            "GET /logged?q=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer secret.token.value\r\nX-Request-Id: log-1\r\n\r\n"
        )
        _ = try client.exchange("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        // Access lines are written after the answer, once the loop's burst is done.
        #expect(gateway.waitForLog("\"request_id\":\"log-1\"") && gateway.waitForLog("duplicate Content-Length"))
        let lines = gateway.log.split(separator: "\n").map(String.init)
        let line = try #require(lines.first { $0.contains("\"request_id\":\"log-1\"") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["method"] as? String == "GET")
        #expect(object["path"] as? String == "/logged")
        #expect(object["status"] as? Int == 404)
        #expect(object["client"] as? String == "127.0.0.1")
        for key in ["time", "route", "bytes_sent", "duration_ms", "upstream_status", "sub", "auth"] {
            #expect(object.keys.contains(key), "missing \(key)")
        }
        #expect(!gateway.log.contains("secret.token.value"))
        #expect(lines.contains { $0.contains("\"status\":400") && $0.contains("duplicate Content-Length") })
    }

    @Test func sigtermExitsZero() throws {
        let gateway = try RunningGateway()
        #expect(gateway.terminate() == 0)
        #expect(gateway.log.contains("\"event\":\"stopped\""))
    }
}

@Suite struct CommandLineTests {
    @Test func versionPrintsAndExitsZero() throws {
        let result = try runCommand(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("authgate "))
        #expect(result.stdout.contains("OpenSSL") && result.stdout.contains("libcurl"))
    }

    @Test func checkConfigAcceptsTheExample() throws {
        let result = try runCommand([
            "check-config", "--config", Repository.root.appendingPathComponent("config/authgate.example.toml").path,
        ])
        #expect(result.status == 0)
        #expect(result.stdout.contains("configuration ok"))
    }

    @Test func checkConfigRefusesWithOneLinePerProblem() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "authgate-bad-\(UUID().uuidString).toml")
        try
            "[server]\nworkers = -1\nspeed = 2\n[cognito]\nregion = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\n"
            .write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try runCommand(["check-config", "--config", file.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("server.workers: must be from 0 to 1024, not -1 (line 2)"))
        #expect(result.stderr.contains("server.speed: unknown key (line 3)"))
    }

    @Test func missingConfigFileIsExitOne() throws {
        let result = try runCommand(["check-config", "--config", "/nonexistent/authgate.toml"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot read"))
    }

    @Test func configPathComesFromTheEnvironment() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["AUTHGATE_CONFIG"] = Repository.root.appendingPathComponent("config/authgate.example.toml").path
        let result = try runCommand(["check-config"], environment: environment)
        #expect(result.status == 0)
    }

    @Test(arguments: [["--frobnicate"], ["check-config", "--config"], ["no-such-command", "x"]])
    func usageErrorsExitTwo(arguments: [String]) throws {
        #expect(try runCommand(arguments).status == 2)
    }

    @Test func serveRefusesAnInvalidConfigWithExitOne() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "authgate-bad-\(UUID().uuidString).toml")
        try "[server]\nworkers = -1\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try runCommand(["serve", "--config", file.path]).status == 1)
        #expect(try runCommand(["--config", file.path]).status == 1)
    }

    @Test func serveExitsOneWhenItCannotBind() throws {
        let port = try freePort()
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(blocker) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(blocker, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(blocker, 1)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "authgate-bind-\(UUID().uuidString).toml")
        try """
        [server]
        listen = ["127.0.0.1:\(port)"]
        [admin]
        listen = ""
        [cognito]
        region = "us-east-1"
        user_pool_id = "us-east-1_X"
        client_ids = ["c"]
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try runCommand(["serve", "--config", file.path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("start failed"))
    }
}
