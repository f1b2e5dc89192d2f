import Foundation
import HTTPClient
import TestSupport
import Testing
import Time

@testable import AWS

#if canImport(Glibc)
    import Glibc
#endif

/// Each source of the chain against a local server speaking its protocol (Tests/Fixtures/fixture_server.py).
@Suite struct CredentialChainTests {
    func resolve(_ environment: [String: String], now: @escaping @Sendable () -> Int = SystemClock.unixSeconds) async
        -> Result<
            AWSCredentials, CredentialError
        >
    {
        let provider = CredentialProvider(environment: environment, client: ControlPlaneClientForTests.shared, now: now)
        return await resolve(provider)
    }

    func resolve(_ provider: CredentialProvider) async -> Result<AWSCredentials, CredentialError> {
        await withCheckedContinuation { continuation in provider.credentials { continuation.resume(returning: $0) } }
    }

    /// How many requests of each credential protocol the server answered.
    func stats(_ server: FixtureServer) async throws -> [String: Int] {
        let result = await withCheckedContinuation { continuation in
            ControlPlaneClientForTests.shared.execute(ControlRequest(url: "\(server.url)/stats")) {
                continuation.resume(returning: $0)
            }
        }
        return try JSONSerialization.jsonObject(with: Data(result.get().body)) as! [String: Int]
    }

    /// No source but the ones a test sets: a closed port stands in for the instance metadata address.
    func isolated(_ extra: [String: String]) throws -> [String: String] {
        var environment = [
            "HOME": "/nonexistent",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(try FixtureServer.freePort())",
        ]
        environment.merge(extra) { $1 }
        return environment
    }

    @Test func environmentVariables() async throws {
        let result = await resolve(
            try isolated([
                "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "env-token",
            ]))
        let credentials = try result.get()
        #expect(
            credentials.accessKeyID == "AKIDENV" && credentials.secretAccessKey == "env-secret"
                && credentials.sessionToken == "env-token")
        #expect(credentials.source == "environment")
        #expect(!credentials.description.contains("env-secret"))

        let half = await resolve(try isolated(["AWS_ACCESS_KEY_ID": "AKIDENV"]))
        #expect(throws: CredentialError.self) { try half.get() }
    }

    @Test func sharedFileWithProfiles() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("credentials-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
        # comment
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = default-secret

        ; another comment
        [work]
        aws_access_key_id=AKIDWORK
        aws_secret_access_key=work-secret
        aws_session_token = work-token
        [broken]
        aws_access_key_id = AKIDBROKEN
        """.write(to: file, atomically: true, encoding: .utf8)
        let base = try isolated(["AWS_SHARED_CREDENTIALS_FILE": file.path])

        #expect(try await resolve(base).get().accessKeyID == "AKIDDEFAULT")
        let work = try await resolve(base.merging(["AWS_PROFILE": "work"]) { $1 }).get()
        #expect(
            work.accessKeyID == "AKIDWORK" && work.sessionToken == "work-token"
                && work.source == "shared file profile work")
        let missing = await resolve(base.merging(["AWS_PROFILE": "nobody"]) { $1 })
        #expect(throws: CredentialError.self) { try missing.get() }
        let broken = await resolve(base.merging(["AWS_PROFILE": "broken"]) { $1 })
        #expect(throws: CredentialError.self) { try broken.get() }
        // The environment comes first.
        let both = try await resolve(
            base.merging(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s"]) { $1 }
        ).get()
        #expect(both.accessKeyID == "AKIDENV")
    }

    /// The profile read from both files: the credentials file's keys over the config file's, `[profile NAME]`
    /// sections, and profiles asking for what authgate does not do refused rather than passed over.
    @Test func profilesAcrossTheCredentialsAndConfigFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("profiles-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let credentials = directory.appendingPathComponent("credentials").path
        let config = directory.appendingPathComponent("config").path
        try "[both]\naws_secret_access_key = from-credentials\n".write(
            toFile: credentials, atomically: true, encoding: .utf8)
        try """
        [profile default]
        aws_access_key_id = AKIDCONFIGDEFAULT
        aws_secret_access_key = config-secret
        [profile both]
        aws_access_key_id = AKIDBOTH
        aws_secret_access_key = from-config
        [both]
        aws_access_key_id = AKIDNOTAPROFILE
        [profile sso]
        sso_session = corp
        sso_account_id = 123456789012
        [profile assume]
        role_arn = arn:aws:iam::123456789012:role/r
        source_profile = default
        [profile settings]
        region = eu-west-1
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let base = try isolated(["AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config])
        func profile(_ name: String?) async -> Result<AWSCredentials, CredentialError> {
            var environment = base
            environment["AWS_PROFILE"] = name
            return await resolve(environment)
        }
        #expect(try await profile(nil).get().accessKeyID == "AKIDCONFIGDEFAULT")
        let both = try await profile("both").get()
        #expect(both.accessKeyID == "AKIDBOTH" && both.secretAccessKey == "from-credentials")
        for refused in ["sso", "assume", "settings", "nobody"] {
            let result = await profile(refused)
            #expect(throws: CredentialError.self, "\(refused)") { try result.get() }
        }
        // A named file that is not a readable file is an error, not an empty profile list.
        let unreadable = await resolve(base.merging(["AWS_CONFIG_FILE": directory.path]) { $1 })
        #expect(throws: CredentialError.self) { try unreadable.get() }
        let large = directory.appendingPathComponent("large").path
        try String(repeating: "# padding\n", count: 110_000).write(toFile: large, atomically: true, encoding: .utf8)
        let tooLarge = await resolve(base.merging(["AWS_CONFIG_FILE": large]) { $1 })
        #expect(throws: CredentialError.self) { try tooLarge.get() }
        // Neither a FIFO, which would hold the control-plane queue in open(2), nor a device that never ends.
        let fifo = directory.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        for special in [fifo, "/dev/zero"] {
            let refused = await resolve(base.merging(["AWS_CONFIG_FILE": special]) { $1 })
            #expect(throws: CredentialError.self, "\(special)") { try refused.get() }
        }
    }

    @Test func containerEndpointWithAuthorization() async throws {
        let server = try FixtureServer()
        let uri = "\(server.url)/ecs/credentials"
        let credentials = try await resolve(
            try isolated([
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri,
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-authorization-token",
            ])
        ).get()
        #expect(credentials.accessKeyID == "ASIAECS1" && credentials.sessionToken == "session-ecs-1")
        #expect(credentials.expiration.map { $0 > SystemClock.unixSeconds() + 3000 } == true)

        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("ecs-token-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tokenFile) }
        try "ecs-authorization-token\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let fromFile = try await resolve(
            try isolated([
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile.path,
            ])
        ).get()
        #expect(fromFile.accessKeyID == "ASIAECS2")

        let unauthorized = await resolve(try isolated(["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri]))
        #expect(throws: CredentialError.self) { try unauthorized.get() }
        let plainRemote = await resolve(try isolated(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.1/creds"]))
        #expect(throws: CredentialError.self) { try plainRemote.get() }
    }

    @Test func temporaryCredentialsAreRefreshedBeforeTheyExpire() async throws {
        let server = try FixtureServer()
        func provider(expiresIn: Int) throws -> CredentialProvider {
            CredentialProvider(
                environment: try isolated([
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(server.url)/ecs/credentials?expires_in=\(expiresIn)",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-authorization-token",
                ]),
                client: ControlPlaneClientForTests.shared
            )
        }
        // An hour left: the second call is answered from the cache.
        let lasting = try provider(expiresIn: 3600)
        let first = try await resolve(lasting).get()
        let second = try await resolve(lasting).get()
        #expect(first.accessKeyID == second.accessKeyID)
        #expect(try await stats(server)["ecs"] == 1)
        // Inside the 5-minute margin: every call fetches anew.
        let expiring = try provider(expiresIn: 100)
        let third = try await resolve(expiring).get()
        let fourth = try await resolve(expiring).get()
        #expect(third.accessKeyID != fourth.accessKeyID)
        #expect(try await stats(server)["ecs"] == 3)
    }

    @Test func instanceMetadataWithSessionToken() async throws {
        let server = try FixtureServer()
        let credentials = try await resolve(["HOME": "/nonexistent", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url])
            .get()
        #expect(credentials.accessKeyID == "ASIAIMDSCREDENTIALS1" && credentials.source == "instance metadata")
        let counts = try await stats(server)
        #expect(counts["imds_token"] == 1 && counts["imds_role"] == 1 && counts["imds_credentials"] == 1)
    }

    @Test func nothingConfiguredSaysWhatWasTried() async throws {
        let result = await resolve(try isolated([:]))
        #expect(throws: CredentialError.self) { try result.get() }
        if case .failure(let error) = result { #expect(error.description.contains("instance metadata")) }
        let disabled = await resolve(try isolated(["AWS_EC2_METADATA_DISABLED": "true"]))
        #expect(throws: CredentialError.self) { try disabled.get() }
    }

    /// Every source configured at once: each one answers only when those before it in the SDKs' order are gone.
    @Test func sourcesAreTriedInTheSDKsOrder() async throws {
        let moto = try MotoServer()
        let server = try FixtureServer()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let token = directory.appendingPathComponent("token").path
        let credentialsFile = directory.appendingPathComponent("credentials").path
        let configFile = directory.appendingPathComponent("config").path
        try "web-identity-token".write(toFile: token, atomically: true, encoding: .utf8)
        try "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n".write(
            toFile: credentialsFile, atomically: true, encoding: .utf8)
        // A config file that only names a region is no credential source: the chain goes on past it.
        try "[default]\nregion = eu-west-1\n[profile other]\nregion = us-east-1\n".write(
            toFile: configFile, atomically: true, encoding: .utf8)
        var environment = try isolated([
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
            "AWS_WEB_IDENTITY_TOKEN_FILE": token, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/chain",
            "AWS_ENDPOINT_URL_STS": moto.endpoint, "AWS_SHARED_CREDENTIALS_FILE": credentialsFile,
            "AWS_CONFIG_FILE": configFile, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(server.url)/ecs/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-authorization-token",
        ])
        var sources: [String] = []
        for next in [
            ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], ["AWS_WEB_IDENTITY_TOKEN_FILE"],
            ["AWS_SHARED_CREDENTIALS_FILE"], [],
        ] {
            sources.append(try await resolve(environment).get().source)
            for variable in next { environment[variable] = nil }
        }
        #expect(sources == ["environment", "web identity", "shared file profile default", "container endpoint"])
        #expect(try await stats(server)["ecs"] == 1)
    }

    @Test(arguments: [
        ("2030-01-02T03:04:05Z", 1_893_553_445), ("2030-01-02T03:04:05.123456Z", 1_893_553_445),
        ("2030-01-02t03:04:05z", 1_893_553_445), ("2030-01-02T05:04:05+02:00", 1_893_553_445),
        ("2030-01-01T22:04:05-05:00", 1_893_553_445), ("1970-01-01T00:00:00Z", 0),
        ("2024-02-29T00:00:00Z", 1_709_164_800),
    ])
    func expirationTimes(text: String, seconds: Int) {
        #expect(RFC3339Timestamp.unixSeconds(text) == seconds)
    }

    @Test(arguments: [
        "2030-01-02 03:04:05Z", "2030-01-02T03:04:05", "2030-1-02T03:04:05Z", "2023-02-29T00:00:00Z",
        "2030-01-02T24:00:00Z", "2030-01-02T03:04:05.Z", "2030-01-02T03:04:05Z ", "+2030-01-02T03:04:05Z",
        "2030-01-02T03:04:05+0200", "",
    ])
    func unreadableExpirationTimes(text: String) {
        #expect(RFC3339Timestamp.unixSeconds(text) == nil)
    }

    @Test func sharedFileParsing() {
        let sections = ProfileFileFormat.parse(
            "[a]\nkey = v=w\n[ b ]\nK=1\n[profile   c]\ns3 =\n  credential_process = nested\nregion = x\n")
        #expect(sections["a"]?["key"] == "v=w")
        #expect(sections["b"]?["k"] == "1")
        #expect(sections["profile c"] == ["region": "x"])
    }
}
