import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real moto server (Cognito's local stand-in, from PyPI's moto[server]) on a free loopback port,
/// with a user pool created through boto3 by scripts/moto_pool.py.
public final class MotoServer: @unchecked Sendable {
    public let port: UInt16
    private let process = Process()

    /// `environment`: variables added to moto's own (MOTO_RECORDER_FILEPATH, where its recorder writes).
    public init(environment: [String: String] = [:]) throws {
        port = try FixtureServer.freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["moto_server", "-H", "127.0.0.1", "-p", "\(port)"]
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try FixtureServer.waitForPort(port, seconds: 30)
    }

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// A user pool with an app client; with `user`, a confirmed user in `groups` and that user's tokens.
    public struct Pool: Decodable, Sendable {
        public let region: String
        public let userPoolID: String
        public let clientID: String
        public let clientSecret: String
        public let idToken: String?
        public let accessToken: String?

        enum CodingKeys: String, CodingKey {
            case region
            case userPoolID = "user_pool_id"
            case clientID = "client_id"
            case clientSecret = "client_secret"
            case idToken = "id_token"
            case accessToken = "access_token"
        }
    }

    /// `clientSecret` gives the app client a secret; `forceChangeUser` is created with a temporary password
    /// (`Correct-Horse-9`), so that signing in asks for NEW_PASSWORD_REQUIRED.
    public func createPool(
        user: String? = nil, groups: [String] = [], clientSecret: Bool = false, forceChangeUser: String? = nil
    ) throws -> Pool {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/moto_pool.py")
        var arguments = [script.path, "--endpoint", endpoint]
        if let user { arguments += ["--user", user] }
        for group in groups { arguments += ["--group", group] }
        if clientSecret { arguments.append("--client-secret") }
        if let forceChangeUser { arguments += ["--force-change-user", forceChangeUser] }
        return try JSONDecoder().decode(Pool.self, from: python(arguments))
    }

    /// The pool's view of a user: CONFIRMED, UNCONFIRMED, FORCE_CHANGE_PASSWORD… (boto3 admin_get_user).
    public func userStatus(pool: Pool, username: String) throws -> String {
        let script = """
            import boto3, sys
            c = boto3.client("cognito-idp", endpoint_url=sys.argv[1], region_name=sys.argv[2],
                             aws_access_key_id="testing", aws_secret_access_key="testing")
            print(c.admin_get_user(UserPoolId=sys.argv[3], Username=sys.argv[4])["UserStatus"])
            """
        let output = try python(["-c", script, endpoint, pool.region, pool.userPoolID, username])
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SignUp through boto3 and nothing more: the user stays UNCONFIRMED, as after a sign-in whose
    /// AdminConfirmSignUp failed.
    public func signUpUnconfirmed(pool: Pool, username: String, password: String) throws {
        let script = """
            import base64, boto3, hashlib, hmac, sys
            endpoint, region, client_id, secret, username, password = sys.argv[1:7]
            c = boto3.client("cognito-idp", endpoint_url=endpoint, region_name=region,
                             aws_access_key_id="testing", aws_secret_access_key="testing")
            extra = {}
            if secret:
                digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
                extra["SecretHash"] = base64.b64encode(digest).decode()
            c.sign_up(ClientId=client_id, Username=username, Password=password, **extra)
            print("ok")
            """
        let output = try python(
            ["-c", script, endpoint, pool.region, pool.clientID, pool.clientSecret, username, password])
        guard String(decoding: output, as: UTF8.self).hasPrefix("ok") else {
            throw FixtureError(description: "sign_up of \(username) failed")
        }
    }

    /// AdminUserGlobalSignOut: every refresh token of the user is revoked.
    public func globalSignOut(pool: Pool, username: String) throws {
        let script = """
            import boto3, sys
            c = boto3.client("cognito-idp", endpoint_url=sys.argv[1], region_name=sys.argv[2],
                             aws_access_key_id="testing", aws_secret_access_key="testing")
            c.admin_user_global_sign_out(UserPoolId=sys.argv[3], Username=sys.argv[4])
            print("ok")
            """
        let output = try python(["-c", script, endpoint, pool.region, pool.userPoolID, username])
        guard String(decoding: output, as: UTF8.self).hasPrefix("ok") else {
            throw FixtureError(description: "admin_user_global_sign_out of \(username) failed")
        }
    }

    /// Cognito's REFRESH_TOKEN_AUTH through InitiateAuth (boto3), for a public app client: "ok" when it issued
    /// tokens, else the error code Cognito answered (NotAuthorizedException for a signed-out refresh token).
    public func refresh(pool: Pool, refreshToken: String) throws -> String {
        let script = """
            import boto3, sys
            c = boto3.client("cognito-idp", endpoint_url=sys.argv[1], region_name=sys.argv[2],
                             aws_access_key_id="testing", aws_secret_access_key="testing")
            try:
                c.initiate_auth(ClientId=sys.argv[3], AuthFlow="REFRESH_TOKEN_AUTH",
                                AuthParameters={"REFRESH_TOKEN": sys.argv[4]})
                print("ok")
            except c.exceptions.ClientError as error:
                print(error.response["Error"]["Code"])
            """
        let output = try python(["-c", script, endpoint, pool.region, pool.clientID, refreshToken])
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs python3 with `arguments` (boto3 talking to this moto) and returns what it printed.
    private func python(_ arguments: [String]) throws -> Data {
        let helper = Process()
        helper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        helper.arguments = ["python3"] + arguments
        let output = Pipe()
        helper.standardOutput = output
        helper.standardError = FileHandle.nullDevice
        try helper.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        helper.waitUntilExit()
        return data
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        var status: Int32 = 0
        waitpid(process.processIdentifier, &status, 0)
    }
}
