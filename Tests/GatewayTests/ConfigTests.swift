import Endpoints
import EventLoop
import Foundation
import Testing

@testable import Gateway

private let minimal = """
    [cognito]
    region = "eu-west-1"
    user_pool_id = "eu-west-1_Pool1"
    client_ids = ["client1"]
    """

@Suite struct ConfigTests {
    @Test func minimalConfigGetsEveryDefault() throws {
        let config = try parseConfig(minimal)
        #expect(config.server.listen == [.ipv4(.loopback, port: 8080)])
        #expect(config.server.workers == EventLoopGroup.coreCount)
        #expect(config.server.maxConnections == 10000)
        #expect(config.server.maxHeaderBytes == 32 * 1024)
        #expect(config.server.maxBodyBytes == 10 * 1024 * 1024)
        #expect(config.server.headerTimeout == 10_000_000_000)
        #expect(config.server.idleTimeout == 60_000_000_000)
        #expect(config.server.upstreamTimeout == 30_000_000_000)
        #expect(config.server.shutdownGrace == 10_000_000_000)
        #expect(config.admin.listen == .ipv4(.loopback, port: 9901))
        #expect(config.log.format == .json && config.log.level == .info)
        #expect(config.cognito.endpointURL.description == "https://cognito-idp.eu-west-1.amazonaws.com")
        #expect(config.cognito.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1")
        #expect(
            config.cognito.jwksURL.description
                == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1/.well-known/jwks.json")
        #expect(config.cognito.tokenUse == .id && config.cognito.clockSkew == 60_000_000_000)
        #expect(
            config.cognito.jwksRefresh == 3_600_000_000_000 && config.cognito.jwksMinRefetchInterval == 10_000_000_000)
        #expect(config.cognito.tokenCacheSize == 10000)
        #expect(config.signin.enabled && config.signin.path == "/signin" && config.signin.clientID == "client1")
        #expect(config.signin.signUp && config.signin.autoConfirm && config.signin.authFlow == .admin)
        #expect(config.signin.rateLimit == RateLimit(count: 10, period: 60_000_000_000))
        #expect(config.signin.maxBodyBytes == 8 * 1024)
        #expect(config.signin.refreshPath == "/refresh")
        #expect(config.signin.signOutPath == "/signout")
        #expect(config.cognito.revocationTTL == 24 * 3_600_000_000_000)
        #expect(config.routes.isEmpty)
    }

    @Test func refreshPathCanMoveOrBeTurnedOff() throws {
        #expect(
            try parseConfig(minimal + "\n[signin]\nrefresh_path = \"/auth/refresh\"").signin.refreshPath
                == "/auth/refresh")
        #expect(try parseConfig(minimal + "\n[signin]\nrefresh_path = \"\"").signin.refreshPath == nil)
    }

    @Test func signOutPathAndRevocationTTLAreRead() throws {
        let config = try parseConfig(
            minimal + "\nrevocation_ttl = \"5m\"\n[signin]\nsignout_path = \"/auth/logout\"\n")
        #expect(config.cognito.revocationTTL == 300_000_000_000)
        #expect(config.signin.signOutPath == "/auth/logout")
        #expect(try parseConfig(minimal + "\n[signin]\nsignout_path = \"\"\n").signin.signOutPath.isEmpty, "off")
        // /signin off, its path is free for the sign-out.
        let reused = try parseConfig(minimal + "\n[signin]\nenabled = false\nsignout_path = \"/signin\"\n")
        #expect(reused.signin.signOutPath == "/signin")
        #expect(ConfigSummary.lines(config).contains("signout: /auth/logout, revocations kept 5m"))
    }

    @Test(arguments: ["4m", "299s", "1000ms", "0s"])
    func revocationTTLShorterThanFiveMinutesIsAnError(text: String) {
        let found = configProblems(minimal + "\nrevocation_ttl = \"\(text)\"\n")
        #expect(found.map(\.key) == ["cognito.revocation_ttl"], "problems: \(found.map(\.description))")
        #expect(found.first?.message.contains("at least 5m") == true)
    }

    @Test func exampleFileIsValid() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/authgate.example.toml").path
        let config = try ConfigLoader.load(path: path, environment: [:])
        #expect(config.routes.count == 2)
        #expect(config.routes[1].upstream == .unix(path: "/run/sample/app.sock"))
    }

    @Test func environmentSuppliesRegionAndEndpoint() throws {
        let text = """
            [cognito]
            user_pool_id = "us-east-2_X"
            client_ids = ["c"]
            """
        let config = try parseConfig(
            text, environment: ["AWS_REGION": "us-east-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000/"])
        #expect(config.cognito.region == "us-east-2")
        #expect(config.cognito.endpointURL.description == "http://127.0.0.1:5000")
        #expect(config.cognito.jwksURL.description == "http://127.0.0.1:5000/us-east-2_X/.well-known/jwks.json")
        #expect(config.cognito.issuer == "https://cognito-idp.us-east-2.amazonaws.com/us-east-2_X")
        let specific = try parseConfig(
            text,
            environment: [
                "AWS_REGION": "us-east-2", "AWS_ENDPOINT_URL": "http://a:1",
                "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": "http://b:2",
            ])
        #expect(specific.cognito.endpointURL.description == "http://b:2")
    }

    @Test func sizesAndDurationsAcceptTheirUnits() throws {
        let config = try parseConfig(
            """
            [server]
            max_header_bytes = "16KiB"
            max_body_bytes = 0
            header_timeout = "250ms"
            idle_timeout = "5m"
            upstream_timeout = "1h"
            shutdown_grace = "0s"
            """ + "\n" + minimal)
        #expect(config.server.maxHeaderBytes == 16384)
        #expect(config.server.maxBodyBytes == 0)
        #expect(config.server.headerTimeout == 250_000_000)
        #expect(config.server.idleTimeout == 300_000_000_000)
        #expect(config.server.upstreamTimeout == 3_600_000_000_000)
        #expect(config.server.shutdownGrace == 0)
    }

    @Test func routesParseTheirUpstreams() throws {
        let config = try parseConfig(
            minimal + """

                [[route]]
                prefix = "/api"
                upstream = "http://10.0.0.1:9000/base/"
                [[route]]
                prefix = "/"
                upstream = "https://svc.internal/v1"
                auth = "none"
                [[route]]
                prefix = "/local"
                upstream = "unix:/run/svc.sock"
                [[route]]
                prefix = "/v6"
                upstream = "http://[::1]:7000"
                groups = ["admins"]
                """)
        #expect(
            config.routes.map(\.upstream) == [
                .url(try HTTPURL(scheme: .http, host: .ipv4(IPv4Address(10, 0, 0, 1)), port: 9000, path: "/base")),
                .url(try HTTPURL(scheme: .https, host: .name("svc.internal"), path: "/v1")),
                .unix(path: "/run/svc.sock"),
                .url(try HTTPURL(scheme: .http, host: .ipv6(.loopback), port: 7000)),
            ])
        #expect(
            config.routes.map(\.upstream.hostField) == ["10.0.0.1:9000", "svc.internal", "localhost", "[::1]:7000"])
        #expect(config.routes[1].upstream.description == "https://svc.internal:443/v1")
        #expect(config.routes[3].groups == ["admins"])
    }

    struct BadValue: CustomStringConvertible, Sendable {
        let text: String
        let key: String
        var description: String { "\(key) ← \(text.prefix(60))" }
    }

    static let badValues: [BadValue] = [
        BadValue(text: "[server]\nlisten = [\"127.0.0.1\"]", key: "server.listen"),
        BadValue(text: "[server]\nlisten = [\"example.com:80\"]", key: "server.listen"),
        BadValue(text: "[server]\nlisten = [\"127.0.0.1:70000\"]", key: "server.listen"),
        BadValue(text: "[server]\nlisten = [\"unix:relative.sock\"]", key: "server.listen"),
        BadValue(text: "[server]\nlisten = [\"[::1:80\"]", key: "server.listen"),
        BadValue(text: "[server]\nlisten = \"127.0.0.1:80\"", key: "server.listen"),
        BadValue(text: "[server]\nlisten = [\"127.0.0.1:80\", \"127.0.0.1:80\"]", key: "server.listen"),
        BadValue(text: "[server]\nworkers = -1", key: "server.workers"),
        BadValue(text: "[server]\nworkers = \"2\"", key: "server.workers"),
        BadValue(text: "[server]\nmax_connections = 0", key: "server.max_connections"),
        BadValue(text: "[server]\nmax_header_bytes = \"16KB\"", key: "server.max_header_bytes"),
        BadValue(text: "[server]\nmax_header_bytes = 10", key: "server.max_header_bytes"),
        BadValue(text: "[server]\nmax_body_bytes = -5", key: "server.max_body_bytes"),
        BadValue(text: "[server]\nheader_timeout = \"10\"", key: "server.header_timeout"),
        BadValue(text: "[server]\nheader_timeout = 10", key: "server.header_timeout"),
        BadValue(text: "[server]\nheader_timeout = \"1.5s\"", key: "server.header_timeout"),
        BadValue(text: "[server]\nidle_timeout = \"10d\"", key: "server.idle_timeout"),
        BadValue(text: "[server]\nheader_timeout = \"0s\"", key: "server.header_timeout"),
        BadValue(text: "[server]\nspeed = 1", key: "server.speed"),
        BadValue(
            text: "[server.tls]\ncert_file = \"/nonexistent.pem\"\nkey_file = \"/nonexistent.key\"",
            key: "server.tls.cert_file"),
        BadValue(text: "[admin]\nlisten = \"127.0.0.1:8080\"", key: "admin.listen"),
        BadValue(text: "[admin]\nlisten = \"nowhere\"", key: "admin.listen"),
        BadValue(text: "[log]\nformat = \"xml\"", key: "log.format"),
        BadValue(text: "[log]\nlevel = \"loud\"", key: "log.level"),
        BadValue(text: "[signin]\npath = \"signin\"", key: "signin.path"),
        BadValue(text: "[signin]\npath = \"/a/../b\"", key: "signin.path"),
        BadValue(text: "[signin]\nclient_id = \"other\"", key: "signin.client_id"),
        BadValue(text: "[signin]\nauth_flow = \"srp\"", key: "signin.auth_flow"),
        BadValue(text: "[signin]\nrate_limit = \"10/d\"", key: "signin.rate_limit"),
        BadValue(text: "[signin]\nrate_limit = \"0/m\"", key: "signin.rate_limit"),
        BadValue(text: "[signin]\nmax_body_bytes = \"2GiB\"", key: "signin.max_body_bytes"),
        BadValue(text: "[signin]\nenabled = \"yes\"", key: "signin.enabled"),
        BadValue(text: "[signin]\nrefresh_path = \"refresh\"", key: "signin.refresh_path"),
        BadValue(text: "[signin]\nrefresh_path = \"/\"", key: "signin.refresh_path"),
        BadValue(text: "[signin]\nrefresh_path = \"/a/../refresh\"", key: "signin.refresh_path"),
        BadValue(text: "[signin]\nrefresh_path = \"/signin\"", key: "signin.refresh_path"),
        BadValue(text: "[signin]\nrefresh_path = false", key: "signin.refresh_path"),
        BadValue(text: "[signin]\nsignout_path = \"signout\"", key: "signin.signout_path"),
        BadValue(text: "[signin]\nsignout_path = \"/\"", key: "signin.signout_path"),
        BadValue(text: "[signin]\nsignout_path = \"/a/../b\"", key: "signin.signout_path"),
        BadValue(text: "[signin]\nsignout_path = \"/signin\"", key: "signin.signout_path"),
        BadValue(text: "[signin]\nsignout_path = 1", key: "signin.signout_path"),
        BadValue(text: "[signin]\nsignout_path = \"/refresh\"", key: "signin.signout_path"),
        BadValue(text: "[[route]]\nupstream = \"http://127.0.0.1:1\"", key: "route[0].prefix"),
        BadValue(text: "[[route]]\nprefix = \"/api\"", key: "route[0].upstream"),
        BadValue(text: "[[route]]\nprefix = \"api\"\nupstream = \"http://127.0.0.1:1\"", key: "route[0].prefix"),
        BadValue(text: "[[route]]\nprefix = \"/api/\"\nupstream = \"http://127.0.0.1:1\"", key: "route[0].prefix"),
        BadValue(text: "[[route]]\nprefix = \"/a/./b\"\nupstream = \"http://127.0.0.1:1\"", key: "route[0].prefix"),
        BadValue(text: "[[route]]\nprefix = \"/a%2fb\"\nupstream = \"http://127.0.0.1:1\"", key: "route[0].prefix"),
        BadValue(text: "[[route]]\nprefix = \"/a\"\nupstream = \"ftp://127.0.0.1:1\"", key: "route[0].upstream"),
        BadValue(text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://user@127.0.0.1:1\"", key: "route[0].upstream"),
        BadValue(text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1/x?y=1\"", key: "route[0].upstream"),
        BadValue(text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:0\"", key: "route[0].upstream"),
        BadValue(text: "[[route]]\nprefix = \"/a\"\nupstream = \"unix:sock\"", key: "route[0].upstream"),
        BadValue(
            text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\nca_file = \"/etc/hostname\"",
            key: "route[0].ca_file"),
        BadValue(
            text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\nauth = \"maybe\"",
            key: "route[0].auth"),
        BadValue(
            text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\nauth = \"none\"\ngroups = [\"g\"]",
            key: "route[0].auth"),
        BadValue(
            text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\ngroups = [1]", key: "route[0].groups"),
        BadValue(
            text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\nstrip_prefix = 1",
            key: "route[0].strip_prefix"),
        BadValue(
            text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\nupsteam = \"x\"",
            key: "route[0].upsteam"),
        BadValue(
            text:
                "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\n[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:2\"",
            key: "route[1].prefix"),
        BadValue(text: "[routes]\nprefix = \"/a\"", key: "routes"),
    ]

    @Test(arguments: badValues)
    func badValueIsAnErrorNamingItsKey(_ bad: BadValue) {
        let found = configProblems(bad.text + "\n" + minimal)
        #expect(found.contains { $0.key == bad.key }, "problems: \(found.map(\.description))")
    }

    @Test(arguments: [
        ("region = \"mars\"\nuser_pool_id = \"mars_1\"\nclient_ids = [\"c\"]", "cognito.region"),
        ("region = \"us-east-1\"\nclient_ids = [\"c\"]", "cognito.user_pool_id"),
        ("region = \"us-east-1\"\nuser_pool_id = \"eu-west-1_X\"\nclient_ids = [\"c\"]", "cognito.user_pool_id"),
        ("region = \"us-east-1\"\nuser_pool_id = \"us-east-1_\"\nclient_ids = [\"c\"]", "cognito.user_pool_id"),
        ("region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"", "cognito.client_ids"),
        ("region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = []", "cognito.client_ids"),
        ("region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"a b\"]", "cognito.client_ids"),
        (
            "region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\nendpoint_url = \"localhost:5000\"",
            "cognito.endpoint_url"
        ),
        (
            "region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\njwks_url = \"file:///etc/passwd\"",
            "cognito.jwks_url"
        ),
        (
            "region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\ntoken_use = \"refresh\"",
            "cognito.token_use"
        ),
        (
            "region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\nclock_skew = \"1h\"",
            "cognito.clock_skew"
        ),
        (
            "region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\njwks_refresh = \"1s\"",
            "cognito.jwks_refresh"
        ),
        (
            "region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\ntoken_cache_size = -1",
            "cognito.token_cache_size"
        ),
        (
            "region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\nclient_secret_file = \"/nonexistent\"",
            "cognito.client_secret_file"
        ),
        (
            "region = \"us-east-1\"\nuser_pool_id = \"us-east-1_X\"\nclient_ids = [\"c\"]\nsecret = \"s\"",
            "cognito.secret"
        ),
    ])
    func cognitoValuesAreChecked(body: String, key: String) {
        let found = configProblems("[cognito]\n" + body)
        #expect(found.contains { $0.key == key }, "problems: \(found.map(\.description))")
    }

    @Test func missingCognitoTableIsAnError() {
        #expect(configProblems("[server]\nworkers = 1").contains { $0.key == "cognito" })
    }

    @Test func problemsNameTheirLine() {
        let found = configProblems(minimal + "\n[server]\nworkers = 1\nheader_timeout = \"soon\"\n")
        let problem = found.first { $0.key == "server.header_timeout" }
        #expect(problem?.line == 7)
        #expect(problem?.description.contains("(line 7)") == true)
    }

    @Test func syntaxErrorNamesItsLine() {
        let found = configProblems(minimal + "\n[server]\nworkers = = 1\n")
        #expect(found.count == 1)
        #expect(found.first?.line == 6)
    }

    @Test func everyProblemIsReportedAtOnce() {
        let found = configProblems("[server]\nworkers = -1\nmax_connections = 0\n[log]\nformat = \"xml\"\n")
        #expect(found.count >= 4)  // workers, max_connections, log.format, cognito
    }

    @Test func tlsFilesThatAreNotACertificateAndKeyAreRefused() throws {
        let cert = FileManager.default.temporaryDirectory.appendingPathComponent("authgate-test-cert.pem").path
        _ = FileManager.default.createFile(atPath: cert, contents: Data("x".utf8))
        let found = configProblems(minimal + "\n[server.tls]\ncert_file = \"\(cert)\"\nkey_file = \"\(cert)\"\n")
        #expect(found.contains { $0.key == "server.tls" && $0.message.contains("cannot load") })
    }
}

@Suite struct ConfigUnitsTests {
    @Test(
        arguments: [
            ("250ms", 250_000_000), ("30s", 30_000_000_000), ("5m", 300_000_000_000), ("1h", 3_600_000_000_000),
            ("0s", 0),
        ] as [(String, UInt64)])
    func durations(text: String, value: UInt64) {
        #expect(ConfigUnits.duration(text) == value)
    }

    @Test(arguments: ["", "s", "10", "1.5s", "-1s", "10 s", "10S", "1d", "ms", "1000000000000s", "999999999h"])
    func badDurations(text: String) {
        #expect(ConfigUnits.duration(text) == nil)
    }

    @Test(
        arguments: [("16KiB", 16384), ("10MiB", 10_485_760), ("1GiB", 1_073_741_824), ("512B", 512), ("1234", 1234)]
            as [(String, UInt64)])
    func sizes(text: String, value: UInt64) {
        #expect(ConfigUnits.size(text) == value)
    }

    @Test(arguments: ["", "KiB", "16KB", "16 KiB", "-1", "1.5MiB", "16kib", "999999999999GiB"])
    func badSizes(text: String) {
        #expect(ConfigUnits.size(text) == nil)
    }
}
