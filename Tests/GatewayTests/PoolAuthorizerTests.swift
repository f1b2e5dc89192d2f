import Cryptography
import Encoding
import Foundation
import JWT
import Testing

@testable import Gateway
@testable import HTTP1

/// A pool for the authorizer: its issuer, a key of its own, and a JWKS cache that has loaded that key.
struct TestPool {
    let userPoolID: String
    let key = RSAPrivateKey(generatingBits: 2048)

    var issuer: String { "https://cognito-idp.us-east-1.amazonaws.com/\(userPoolID)" }
    var clientID: String { "client" + userPoolID.split(separator: "_").last! }

    var jwks: [UInt8] {
        Array(
            #"{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"kid1","n":"\#(Base64URL.encode(key.modulus))","e":"\#(Base64URL.encode(key.exponent))"}]}"#
                .utf8)
    }

    /// An ID token of this pool, signed with `signer`'s key (its own unless told).
    func token(signedBy signer: TestPool? = nil, sub: String = "sub-1") -> String {
        let now = Int(Date().timeIntervalSince1970)
        let claims: [String: Any] = [
            "iss": issuer, "token_use": "id", "aud": clientID, "sub": sub, "exp": now + 3600, "iat": now - 5,
        ]
        let header = Base64URL.encode(Array(#"{"alg":"RS256","kid":"kid1"}"#.utf8))
        let payload = Base64URL.encode(try! JSONSerialization.data(withJSONObject: claims))
        let input = header + "." + payload
        return input + "." + Base64URL.encode((signer ?? self).key.signRS256(Array(input.utf8)))
    }

    func keys() -> PoolKeys {
        let body = jwks
        let cache = JWKSCache(
            settings: .init(refreshSeconds: 3600, minRefetchSeconds: 3600), fetch: { $0(.success(body)) },
            observer: { _ in })
        cache.start()
        return PoolKeys(userPoolID: userPoolID, jwks: cache)
    }
}

/// A route as the configuration makes it (every other key at its default), listing `pools`; the pools it may
/// name are the suite's two.
private func route(pools: [String]) throws -> RouteSettings {
    let config = try ConfigLoader.parse(
        """
        [cognito]
        region = "us-east-1"
        user_pool_id = "us-east-1_First1"
        client_ids = ["clientFirst1"]
        [[cognito.pool]]
        user_pool_id = "us-east-1_Second2"
        client_ids = ["clientSecond2"]
        [[route]]
        prefix = "/api"
        upstream = "unix:/run/x.sock"
        pools = [\(pools.map { "\"\($0)\"" }.joined(separator: ", "))]
        """, environment: [:])
    return config.routes[0]
}

private func head(_ token: String) throws -> RequestHead {
    try RequestHeadParser.parse(
        Array("GET /api HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8), limits: HTTPLimits())
}

/// What the authorizer decides at once (the keys are loaded: nothing waits for a fetch here).
private func outcome(_ authorizer: Authorizer, _ token: String, route: RouteSettings) throws -> AuthorizationOutcome? {
    guard case .decided(let outcome) = authorizer.authorize(try head(token), route: route) else { return nil }
    return outcome
}

private func rejection(_ outcome: AuthorizationOutcome?) -> TokenRejection? {
    if case .rejected(let rejection) = outcome { return rejection }
    return nil
}

private func allowedPool(_ outcome: AuthorizationOutcome?) -> Int? {
    if case .allowed(let token) = outcome { return token.pool }
    return nil
}

/// The authorizer with two pools: a route's `pools`, for new and cached tokens alike.
@Suite struct PoolAuthorizerTests {
    let first = TestPool(userPoolID: "us-east-1_First1")
    let second = TestPool(userPoolID: "us-east-1_Second2")

    private func authorizer(cacheSize: Int = 100) -> Authorizer {
        let rules = [first, second].map {
            TokenRules(issuer: $0.issuer, clientIDs: [$0.clientID], tokenUse: .id, clockSkew: 60)
        }
        return Authorizer(
            verifier: TokenVerifier(pools: rules), pools: [first.keys(), second.keys()],
            cache: VerifiedTokenCache(capacity: cacheSize), revocations: Revocations())
    }

    @Test(arguments: [100, 0])
    func aRouteListingOnePoolRefusesTheOthersTokensCachedOrNot(cacheSize: Int) throws {
        let authorizer = authorizer(cacheSize: cacheSize)
        defer { for pool in authorizer.pools { pool.jwks.stop() } }
        let open = try route(pools: [])
        let onlyFirst = try route(pools: [first.userPoolID])
        let firstToken = first.token()
        let secondToken = second.token()
        #expect(allowedPool(try outcome(authorizer, firstToken, route: open)) == 0)
        #expect(allowedPool(try outcome(authorizer, secondToken, route: open)) == 1)
        // Both are in the cache now (when there is one): the entry knows its pool.
        #expect(allowedPool(try outcome(authorizer, firstToken, route: onlyFirst)) == 0)
        #expect(rejection(try outcome(authorizer, secondToken, route: onlyFirst)) == .poolNotAccepted)
        #expect(authorizer.cache.hitsAndMisses.hits == (cacheSize > 0 ? 2 : 0))
        // A token first seen on the restricted route is refused too, and stays good where it is accepted.
        let fresh = second.token(sub: "sub-2")
        #expect(rejection(try outcome(authorizer, fresh, route: onlyFirst)) == .poolNotAccepted)
        #expect(allowedPool(try outcome(authorizer, fresh, route: try route(pools: [second.userPoolID]))) == 1)
    }

    @Test func aTokenOfOnePoolSignedWithTheOthersKeyIsRefused() throws {
        let authorizer = authorizer()
        defer { for pool in authorizer.pools { pool.jwks.stop() } }
        #expect(
            rejection(try outcome(authorizer, first.token(signedBy: second), route: try route(pools: [])))
                == .badSignature)
    }

    @Test func anUnknownIssuerIsRefused() throws {
        let authorizer = authorizer()
        defer { for pool in authorizer.pools { pool.jwks.stop() } }
        let stranger = TestPool(userPoolID: "us-east-1_Stranger3")
        #expect(rejection(try outcome(authorizer, stranger.token(), route: try route(pools: []))) == .wrongIssuer)
    }

    @Test func everyPoolsFirstLoadIsWaitedFor() {
        let held = HeldFetch()
        let pending = JWKSCache(
            settings: .init(refreshSeconds: 3600, minRefetchSeconds: 3600), fetch: { held.hold($0) },
            observer: { _ in })
        pending.start()
        let authorizer = Authorizer(
            verifier: TokenVerifier(
                pools: [first, second].map {
                    TokenRules(issuer: $0.issuer, clientIDs: [$0.clientID], tokenUse: .id, clockSkew: 60)
                }),
            pools: [first.keys(), PoolKeys(userPoolID: second.userPoolID, jwks: pending)],
            cache: VerifiedTokenCache(capacity: 10), revocations: Revocations())
        defer { for pool in authorizer.pools { pool.jwks.stop() } }
        let loaded = LoadFlag()
        authorizer.whenEveryPoolLoaded { loaded.set() }
        #expect(!loaded.value, "the second pool has not loaded")
        held.answer(.success(second.jwks))
        #expect(loaded.value, "both have loaded")
    }
}

/// A JWKS fetch that answers when the test says.
private final class HeldFetch: @unchecked Sendable {
    private let lock = NSLock()
    private var completion: (@Sendable (Result<[UInt8], JWKSCache.JWKSFetchError>) -> Void)?
    func hold(_ completion: @escaping @Sendable (Result<[UInt8], JWKSCache.JWKSFetchError>) -> Void) {
        lock.withLock { self.completion = completion }
    }
    func answer(_ result: Result<[UInt8], JWKSCache.JWKSFetchError>) {
        lock.withLock { completion }?(result)
    }
}

private final class LoadFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var value: Bool { lock.withLock { flag } }
}
