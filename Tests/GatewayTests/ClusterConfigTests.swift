import Endpoints
import Foundation
import Testing

@testable import Gateway

private let cognito = """
    [cognito]
    region = "eu-west-1"
    user_pool_id = "eu-west-1_Pool1"
    client_ids = ["client1"]
    """

/// `[cluster]` (SPEC.md "Configuration file", "Secrets"): read and checked; no table or `redis_url = ""` keeps
/// the shared state in the process.
struct ClusterConfigTests {
    func problems(_ cluster: String) -> [ConfigProblem] {
        do {
            _ = try ConfigLoader.parse(cognito + "\n[cluster]\n" + cluster, environment: [:])
            return []
        } catch {
            return error.problems
        }
    }

    @Test func withoutRedisURLTheStateStaysInTheProcess() throws {
        #expect(try ConfigLoader.parse(cognito, environment: [:]).cluster == nil)
        #expect(try ConfigLoader.parse(cognito + "\n[cluster]\nredis_url = \"\"", environment: [:]).cluster == nil)
    }

    @Test func theKeysAreRead() throws {
        let config = try ConfigLoader.parse(
            cognito + "\n[cluster]\nredis_url = \"rediss://cache.internal:6380/2\"\nkey_prefix = \"gw1:\"",
            environment: [:])
        let cluster = try #require(config.cluster)
        #expect(cluster.redisURL == (try RedisURL("rediss://cache.internal:6380/2")))
        #expect(cluster.keyPrefix == "gw1:" && cluster.passwordFile.isEmpty)
        #expect(ConfigSummary.lines(config).contains("cluster: rediss://cache.internal:6380/2, key_prefix gw1:"))
        let unix = try ConfigLoader.parse(
            cognito + "\n[cluster]\nredis_url = \"unix:/run/redis.sock\"", environment: [:])
        #expect(unix.cluster?.keyPrefix == "authgate:")
    }

    @Test(arguments: [
        ("redis_url = \"http://cache:6379\"", "cluster.redis_url"),
        ("redis_url = \"redis://user:secret@cache:6379\"", "cluster.redis_url"),
        ("redis_url = \"redis://cache:6379/db\"", "cluster.redis_url"),
        ("redis_url = \"unix:relative\"", "cluster.redis_url"),
        ("redis_url = \"redis://cache\"\nkey_prefix = \"\"", "cluster.key_prefix"),
        ("redis_url = \"redis://cache\"\nkey_prefix = \"a b\"", "cluster.key_prefix"),
        ("redis_url = \"redis://cache\"\npassword_file = \"/nonexistent/redis_password\"", "cluster.password_file"),
        ("redis_url = \"redis://cache\"\npassword = \"inline\"", "cluster.password"),
    ])
    func badValuesNameTheirKey(_ text: String, _ key: String) {
        let found = problems(text)
        #expect(found.contains { $0.key == key }, "problems: \(found.map(\.description))")
    }

    @Test func aClusterChangeNeedsARestart() throws {
        let old = try ConfigLoader.parse(cognito, environment: [:])
        let new = try ConfigLoader.parse(cognito + "\n[cluster]\nredis_url = \"redis://cache\"", environment: [:])
        #expect(GatewayServer.fixedSettingsChanged(from: old, to: new) == ["cluster"])
    }

    @Test func thePasswordComesFromTheFirstSourceAndLosesOneNewline() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("file").path
        try "from file\n\n".write(toFile: file, atomically: true, encoding: .utf8)
        try " credential \r\n".write(
            toFile: directory.appendingPathComponent("redis_password").path, atomically: true, encoding: .utf8)
        let environment = ["CREDENTIALS_DIRECTORY": directory.path, "AUTHGATE_REDIS_PASSWORD": "from env"]
        let fromFile = try RedisPassword.read(file: file, environment: environment)
        #expect(fromFile?.value == "from file\n" && fromFile?.source == "cluster.password_file")
        let fromCredential = try RedisPassword.read(file: "", environment: environment)
        #expect(
            fromCredential?.value == " credential " && fromCredential?.source == "systemd credential redis_password")
        let fromEnvironment = try RedisPassword.read(file: "", environment: ["AUTHGATE_REDIS_PASSWORD": "from env"])
        #expect(fromEnvironment?.value == "from env")
        #expect(try RedisPassword.read(file: "", environment: [:]) == nil)
        let empty = directory.appendingPathComponent("empty").path
        try "\n".write(toFile: empty, atomically: true, encoding: .utf8)
        #expect(throws: RedisPassword.ReadError.self) { try RedisPassword.read(file: empty, environment: [:]) }
    }
}
