import Foundation
import TestSupport
import Testing

/// The gateway against moto as the user pool: real Cognito-shaped tokens, signed by moto's key and checked
/// against the JWKS moto serves at /{pool_id}/.well-known/jwks.json.
@Suite(.serialized) struct MotoTests {
    @Test func motoTokensOpenTheRoutesTheyShould() throws {
        let moto = try MotoServer()
        let upstream = try FixtureServer()
        let pool = try moto.createPool(user: "alice", groups: ["staff"])
        let idToken = try #require(pool.idToken)
        let accessToken = try #require(pool.accessToken)
        let gateway = try RunningGateway(
            extra: """
                [[route]]
                prefix = "/api"
                upstream = "\(upstream.url)/upstream"
                groups = ["staff"]
                [[route]]
                prefix = "/admin"
                upstream = "\(upstream.url)/upstream"
                groups = ["admins"]
                """,
            cognito: SignInClient.cognitoSection(pool, moto)
        )
        #expect(try waitUntilReady(gateway))
        #expect(try gateway.status("/api/orders", token: idToken) == 200)
        #expect(try gateway.status("/api/orders") == 401)
        #expect(
            try gateway.status("/api/orders", token: accessToken) == 401, "token_use = \"id\" refuses access tokens")
        #expect(try gateway.status("/admin", token: idToken) == 403, "alice is in staff, not admins")

        let config = FileManager.default.temporaryDirectory.appendingPathComponent("moto-\(UUID().uuidString).toml")
        try """
        [cognito]
        region = "\(pool.region)"
        user_pool_id = "\(pool.userPoolID)"
        client_ids = ["\(pool.clientID)"]
        endpoint_url = "\(moto.endpoint)"
        """.write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        let verified = try runCommand(["verify-token", "--config", config.path, idToken])
        #expect(verified.status == 0)
        #expect(
            verified.stdout.contains("\"cognito:username\":\"alice\"")
                || verified.stdout.contains("\"cognito:username\": \"alice\""))
    }
}
