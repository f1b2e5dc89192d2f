import Endpoints
import Foundation
import HTTPClient
import TestSupport
import Testing
import Time

@testable import AWS

/// AssumeRoleWithWebIdentity against moto's STS (moto accepts any token), whose request recorder shows what
/// authgate sent; the answers moto never gives are parsed from fixed documents.
@Suite(.serialized) struct WebIdentityTests {
    let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("web-identity-\(UUID())")
    var tokenFile: String { workspace.appendingPathComponent("token").path }
    var recording: String { workspace.appendingPathComponent("moto-recording").path }

    init() throws {
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
    }

    func environment(_ moto: MotoServer, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true", "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/authgate", "AWS_ENDPOINT_URL_STS": moto.endpoint,
        ].merging(extra) { $1 }
    }

    func resolve(_ provider: CredentialProvider) async -> Result<AWSCredentials, CredentialError> {
        await withCheckedContinuation { continuation in provider.credentials { continuation.resume(returning: $0) } }
    }

    func call(_ request: ControlRequest) async throws -> ControlResponse {
        try await withCheckedContinuation { continuation in
            ControlPlaneClientForTests.shared.execute(request) { continuation.resume(returning: $0) }
        }.get()
    }

    /// The form fields of every STS request moto recorded, oldest first.
    func recordedForms(_ moto: MotoServer) async throws -> [[String: String]] {
        let response = try await call(ControlRequest(url: "\(moto.endpoint)/moto-api/recorder/download-recording"))
        return try String(decoding: response.body, as: UTF8.self).split(separator: "\n").compactMap { line in
            let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let body = entry?["body"] as? String, let data = Data(base64Encoded: body) else { return nil }
            var fields: [String: String] = [:]
            for pair in String(decoding: data, as: UTF8.self).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            return fields["Action"] == "AssumeRoleWithWebIdentity" ? fields : nil
        }
    }

    @Test func assumesTheRoleAndReadsTheTokenFileAtEveryRefresh() async throws {
        defer { try? FileManager.default.removeItem(at: workspace) }
        let moto = try MotoServer(environment: ["MOTO_RECORDER_FILEPATH": recording])
        _ = try await call(ControlRequest(method: "POST", url: "\(moto.endpoint)/moto-api/recorder/start-recording"))
        try "token-one\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        // A margin longer than moto's hour: every call is a refresh.
        let provider = CredentialProvider(
            environment: environment(moto, ["AWS_ROLE_SESSION_NAME": "pod-a"]),
            client: ControlPlaneClientForTests.shared, refreshMargin: 7200)
        let before = SystemClock.unixSeconds()
        let first = try await resolve(provider).get()
        let after = SystemClock.unixSeconds()
        #expect(first.accessKeyID.hasPrefix("ASIA") && first.sessionToken?.isEmpty == false)
        #expect(first.source == "web identity")
        // moto's hour, counted from when it answered.
        #expect(first.expiration.map { (before + 3600...after + 3600).contains($0) } == true)

        // The kubelet rotates the token by replacing the file.
        try "token-two".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let second = try await resolve(provider).get()
        #expect(second.accessKeyID != first.accessKeyID)
        let forms = try await recordedForms(moto)
        #expect(forms.map { $0["WebIdentityToken"] } == ["token-one", "token-two"])
        #expect(forms.allSatisfy { $0["RoleArn"] == "arn:aws:iam::123456789012:role/authgate" })
        #expect(forms.allSatisfy { $0["RoleSessionName"] == "pod-a" && $0["Version"] == "2011-06-15" })

        // A token file that went away fails the refresh; the credentials held stay in use until they expire.
        try FileManager.default.removeItem(atPath: tokenFile)
        let kept = try await resolve(provider).get()
        #expect(kept.accessKeyID == second.accessKeyID)
        let fresh = await resolve(
            CredentialProvider(environment: environment(moto), client: ControlPlaneClientForTests.shared))
        #expect(throws: CredentialError.self) { try fresh.get() }
    }

    /// The whole path on moto: STS's temporary credentials sign AdminInitiateAuth, session token included.
    @Test func signedCognitoCallUsesTheAssumedRole() async throws {
        defer { try? FileManager.default.removeItem(at: workspace) }
        let moto = try MotoServer(environment: ["MOTO_RECORDER_FILEPATH": recording])
        let pool = try moto.createPool(user: "erin")
        _ = try await call(ControlRequest(method: "POST", url: "\(moto.endpoint)/moto-api/recorder/start-recording"))
        try "token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let provider = CredentialProvider(environment: environment(moto), client: ControlPlaneClientForTests.shared)
        let cognito = CognitoClient(
            endpoint: try HTTPURL(moto.endpoint), region: pool.region, http: ControlPlaneClientForTests.shared,
            credentials: provider)
        let deadline = SystemClock.monotonicNanoseconds() + 30 * 1_000_000_000
        let signedIn = await withCheckedContinuation { continuation in
            cognito.authenticate(
                userPoolID: pool.userPoolID, clientID: pool.clientID, username: "erin", password: "Correct-Horse-9",
                secretHash: nil, deadline: deadline
            ) { continuation.resume(returning: $0) }
        }
        #expect(throws: Never.self) { try signedIn.get() }
        let assumed = try await resolve(provider).get()
        let response = try await call(ControlRequest(url: "\(moto.endpoint)/moto-api/recorder/download-recording"))
        let signedHeaders = try String(decoding: response.body, as: UTF8.self).split(separator: "\n").compactMap {
            line -> [String: String]? in
            let headers = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["headers"]
            return (headers as? [String: String]).flatMap {
                $0["X-Amz-Target"]?.hasSuffix("AdminInitiateAuth") == true ? $0 : nil
            }
        }
        #expect(signedHeaders.count == 1)
        #expect(signedHeaders.first?["X-Amz-Security-Token"] == assumed.sessionToken)
        #expect(signedHeaders.first?["Authorization"]?.contains("Credential=\(assumed.accessKeyID)/") == true)
    }

    @Test func endpointVariablesAndAGeneratedSessionName() async throws {
        defer { try? FileManager.default.removeItem(at: workspace) }
        let moto = try MotoServer(environment: ["MOTO_RECORDER_FILEPATH": recording])
        _ = try await call(ControlRequest(method: "POST", url: "\(moto.endpoint)/moto-api/recorder/start-recording"))
        try "token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let closed = "http://127.0.0.1:\(try FixtureServer.freePort())"
        // AWS_ENDPOINT_URL serves when there is no STS-specific one, which wins when there is.
        var generic = environment(moto, ["AWS_ENDPOINT_URL": moto.endpoint])
        generic["AWS_ENDPOINT_URL_STS"] = nil
        let viaGeneric = await resolve(
            CredentialProvider(environment: generic, client: ControlPlaneClientForTests.shared))
        #expect(throws: Never.self) { try viaGeneric.get() }
        let specific = environment(moto, ["AWS_ENDPOINT_URL": closed])
        let viaSpecific = await resolve(
            CredentialProvider(environment: specific, client: ControlPlaneClientForTests.shared))
        #expect(throws: Never.self) { try viaSpecific.get() }
        let unreachable = await resolve(
            CredentialProvider(
                environment: environment(moto, ["AWS_ENDPOINT_URL_STS": closed]),
                client: ControlPlaneClientForTests.shared))
        #expect(throws: CredentialError.self) { try unreachable.get() }
        let names = try await recordedForms(moto).compactMap { $0["RoleSessionName"] }
        #expect(names.count == 2 && names.allSatisfy { $0.hasPrefix("authgate-") && Int($0.dropFirst(9)) != nil })
    }

    @Test func profileWithWebIdentityTokenFile() async throws {
        defer { try? FileManager.default.removeItem(at: workspace) }
        let moto = try MotoServer()
        try "token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let config = workspace.appendingPathComponent("config").path
        try """
        [profile pod]
        role_arn = arn:aws:iam::123456789012:role/from-profile
        web_identity_token_file = \(tokenFile)
        role_session_name = from-profile
        [profile chained]
        role_arn = arn:aws:iam::123456789012:role/other
        source_profile = pod
        """.write(toFile: config, atomically: true, encoding: .utf8)
        var base = environment(moto, ["AWS_CONFIG_FILE": config, "AWS_PROFILE": "pod"])
        base["AWS_WEB_IDENTITY_TOKEN_FILE"] = nil
        base["AWS_ROLE_ARN"] = nil
        let credentials = try await resolve(
            CredentialProvider(environment: base, client: ControlPlaneClientForTests.shared)
        ).get()
        #expect(credentials.source == "web identity of profile pod" && credentials.accessKeyID.hasPrefix("ASIA"))
        // Assume-role chains are not implemented: refused, never skipped for the next source.
        let chained = await resolve(
            CredentialProvider(
                environment: base.merging(["AWS_PROFILE": "chained"]) { $1 }, client: ControlPlaneClientForTests.shared)
        )
        #expect(throws: CredentialError.self) { try chained.get() }
    }

    @Test func misconfigurationIsAnErrorNotASkip() throws {
        #expect(throws: CredentialError.self) {
            try WebIdentity.fromEnvironment(["AWS_WEB_IDENTITY_TOKEN_FILE": "/t"], now: 0)
        }
        #expect(try WebIdentity.fromEnvironment(["AWS_ROLE_ARN": "arn:aws:iam::1:role/r"], now: 0) == nil)
        #expect(throws: CredentialError.self) {
            try WebIdentity.fromEnvironment(
                ["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "r", "AWS_ENDPOINT_URL_STS": "http://h/?q=1"],
                now: 0)
        }
        let missing = try #require(
            try WebIdentity.fromEnvironment(
                ["AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/t", "AWS_ROLE_ARN": "r"], now: 0))
        #expect(throws: CredentialError.self) { try missing.request() }
    }

    @Test(arguments: [
        ([:], "https://sts.amazonaws.com"),
        (["AWS_REGION": "eu-west-3"], "https://sts.eu-west-3.amazonaws.com"),
        (["AWS_DEFAULT_REGION": "us-east-2"], "https://sts.us-east-2.amazonaws.com"),
        (["AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2"], "https://sts.eu-west-1.amazonaws.com"),
        (["AWS_REGION": "cn-north-1"], "https://sts.cn-north-1.amazonaws.com.cn"),
        (["AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"], "http://127.0.0.1:5000"),
    ])
    func stsEndpoint(environment: [String: String], expected: String) throws {
        #expect(try WebIdentity.endpoint(environment).description == expected)
    }

    @Test func regionThatIsNotAHostLabelIsRefused() {
        #expect(throws: CredentialError.self) { try WebIdentity.endpoint(["AWS_REGION": "evil.example/x"]) }
    }

    static let credentialsXML = """
        <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\
        <AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAFIXED</AccessKeyId>\
        <SecretAccessKey>se/cr+et&amp;x</SecretAccessKey><SessionToken>tok</SessionToken>\
        <Expiration>2030-01-02T03:04:05Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult>\
        </AssumeRoleWithWebIdentityResponse>
        """

    func parse(_ status: Int, _ body: String) throws -> Result<AWSCredentials, CredentialError> {
        let identity = try WebIdentity(
            tokenFile: "/t", roleARN: "r", sessionName: nil, environment: [:], now: 0, source: "web identity")
        return identity.parseAnswer(status: status, body: Array(body.utf8))
    }

    @Test func answerParsing() throws {
        let credentials = try parse(200, Self.credentialsXML).get()
        #expect(credentials.accessKeyID == "ASIAFIXED" && credentials.secretAccessKey == "se/cr+et&x")
        #expect(credentials.expiration == 1_893_553_445)
        let error = try parse(
            400, "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>m</Message></Error></ErrorResponse>")
        if case .failure(let failure) = error {
            #expect(failure.description.hasSuffix("answered 400 InvalidIdentityToken"))
        }
        #expect(throws: CredentialError.self) { try error.get() }
    }

    @Test(arguments: [
        // A second key id, markup or a CDATA section inside a field, an unknown entity, a missing field.
        credentialsXML.replacingOccurrences(of: "<SessionToken>", with: "<AccessKeyId>B</AccessKeyId><SessionToken>"),
        credentialsXML.replacingOccurrences(of: "ASIAFIXED", with: "AS<b>IA</b>"),
        credentialsXML.replacingOccurrences(of: "ASIAFIXED", with: "<![CDATA[ASIA]]>"),
        credentialsXML.replacingOccurrences(of: "&amp;", with: "&#65;"),
        credentialsXML.replacingOccurrences(of: "<SessionToken>tok</SessionToken>", with: ""),
        credentialsXML.replacingOccurrences(of: "2030-01-02T03:04:05Z", with: "soon"),
    ])
    func suspiciousAnswersAreRefused(body: String) throws {
        #expect(throws: CredentialError.self) { try parse(200, body).get() }
    }
}
