import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The page of `demo/browser` served from its own origin and run in headless Chromium against a gateway and
/// moto: only a browser enforces CORS, so this is where the [cors] section is shown to work (and, with the
/// page's origin left out, to be what makes it work). The curl-level header checks are in CORSTests.
@Suite(.serialized, .enabled(if: Browser.path != nil, "needs chromium (scripts/setup installs it)"))
struct BrowserTests {
    @Test func thePageSignsUpCallsTheAPIRefreshesAndSignsOutFromAnotherOrigin() throws {
        let run = try BrowserRun(allowPageOrigin: true)
        let dom = try run.pageAfterItsScriptFinished()
        #expect(dom.contains(#"<strong id="result">PASS</strong>"#), "the page's steps:\n\(Browser.steps(dom))")
        for step in [
            "sign up", "new user", "sign in", "API with the id token", "request id readable", "API without a token",
            "refresh", "API with the refreshed id token", "sign out", "API with the old id token after sign-out",
            "refresh after sign-out",
        ] {
            #expect(dom.contains(#"data-step="\#(step)" data-ok="true""#), "step \(step):\n\(Browser.steps(dom))")
        }
        #expect(run.gateway.waitForLog(#""auth":"revoked""#), "the old token was refused as revoked")
    }

    @Test func aPageFromAnOriginNotAllowedCannotReadAnyAnswer() throws {
        let run = try BrowserRun(allowPageOrigin: false)
        let dom = try run.pageAfterItsScriptFinished()
        #expect(dom.contains(#"<strong id="result">FAIL</strong>"#))
        #expect(dom.contains(#"data-step="sign up" data-ok="false">sign up: blocked"#), "\(Browser.steps(dom))")
    }
}

enum Browser {
    static let path: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The page's list of steps, for failure messages.
    static func steps(_ dom: String) -> String {
        dom.components(separatedBy: "<li ").dropFirst().map {
            "  <li " + ($0.components(separatedBy: "</li>").first ?? "")
        }
        .joined(separator: "\n")
    }
}

/// moto, an upstream, the gateway with [cors], and the page's own static server on another port (another origin).
struct BrowserRun {
    let moto: MotoServer
    let upstream: FixtureServer
    let gateway: RunningGateway
    let page: Process
    let pagePort: UInt16

    init(allowPageOrigin: Bool) throws {
        moto = try MotoServer()
        upstream = try FixtureServer()
        let pool = try moto.createPool(clientSecret: true)
        pagePort = try freePort()
        let origin = allowPageOrigin ? "http://127.0.0.1:\(pagePort)" : "http://127.0.0.1:1"
        gateway = try RunningGateway(
            extra: """
                [signin]
                auth_flow = "admin"

                [cors]
                allow_origins = ["\(origin)"]

                [[route]]
                prefix = "/api"
                upstream = "\(upstream.url)/upstream"
                """,
            cognito: """
                [cognito]
                region = "\(pool.region)"
                user_pool_id = "\(pool.userPoolID)"
                client_ids = ["\(pool.clientID)"]
                endpoint_url = "\(moto.endpoint)"
                """,
            environment: SignInTests.awsEnvironment.merging(["AUTHGATE_CLIENT_SECRET": pool.clientSecret]) { $1 }
        )
        guard try waitUntilReady(gateway) else { throw TestFailure("the gateway never held the pool's keys") }
        page = Process()
        page.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        page.arguments = [
            "python3", "-m", "http.server", "\(pagePort)", "--bind", "127.0.0.1", "--directory",
            Repository.root.appendingPathComponent("demo/browser").path,
        ]
        page.standardOutput = FileHandle.nullDevice
        page.standardError = FileHandle.nullDevice
        try page.run()
        try FixtureServer.waitForPort(pagePort)
    }

    /// Chromium loads the page and runs its script; virtual time waits for every fetch, then the DOM is printed.
    /// A profile of its own in the gateway's directory: nothing of the machine's is read or written. Children of
    /// the test process inherit its blocked SIGTERM, so every process here is stopped with SIGKILL, and the browser
    /// runs in a session of its own so that its helpers go with it.
    func pageAfterItsScriptFinished() throws -> String {
        defer { Self.kill(page.processIdentifier, group: false) }
        let profile = gateway.directory.appendingPathComponent("chromium-profile")
        let browser = Process()
        browser.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        browser.arguments = [
            Browser.path!, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(profile.path)", "--virtual-time-budget=60000", "--dump-dom",
            "http://127.0.0.1:\(pagePort)/index.html?gateway=http://127.0.0.1:\(gateway.publicPort)",
        ]
        browser.environment = ["HOME": gateway.directory.path, "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        browser.standardOutput = output
        browser.standardError = FileHandle.nullDevice
        try browser.run()
        let session = browser.processIdentifier
        // Bounded: a browser that hangs is killed, and the test fails on the DOM it did not print.
        let watchdog = DispatchWorkItem { Self.kill(session, group: true) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: watchdog)
        let dom = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        watchdog.cancel()
        Self.kill(session, group: true)
        return dom
    }

    private static func kill(_ pid: Int32, group: Bool) {
        _ = Glibc.kill(group ? -pid : pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}
