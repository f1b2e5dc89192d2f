import Cryptography
import Encoding
import Endpoints
import Foundation
import JWT
import Logging
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

    /// Its cache reports as the gateway's do: to the pool's key status (what /readyz says of it).
    func keys() -> PoolKeys {
        let body = jwks
        let status = KeyStatus()
        let reporter = KeyReporter(userPoolID: userPoolID, status: status)
        let cache = JWKSCache(
            settings: .init(refreshSeconds: 3600, minRefetchSeconds: 3600), fetch: { $0(.success(body)) },
            observer: { reporter.report($0) })
        cache.start()
        return PoolKeys(userPoolID: userPoolID, jwks: cache, status: status)
    }
}

/// JWKSFetcher.report for one pool, with a logger and metrics of its own.
struct KeyReporter: Sendable {
    let userPoolID: String
    let status: KeyStatus
    let metrics = Metrics(loops: 1, openConnections: { 0 })

    func report(_ event: JWKSCache.Event) {
        let url = try! HTTPURL("http://127.0.0.1:1/\(userPoolID)/.well-known/jwks.json")
        JWKSFetcher.report(
            event, source: JWKSFetcher.Source(pool: 0, userPoolID: userPoolID, url: url),
            logger: Logger(label: "test"), status: status, cache: VerifiedTokenCache(capacity: 0), metrics: metrics)
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

    /// /readyz's key conditions are those of the authorizer in force: a pool a reload added waits for its own
    /// cache; one it removed is not waited for, even when its stopped cache reports a failed fetch that was
    /// under way (the cache's observer may run after `stop`).
    @Test func readinessWaitsForThePoolsOfTheAuthorizerInForceOnly() {
        func conditions(_ readiness: Readiness) -> [String] { readiness.unmet.map(\.0) }
        let readiness = Readiness()
        let rules = [first, second].map {
            TokenRules(issuer: $0.issuer, clientIDs: [$0.clientID], tokenUse: .id, clockSkew: 60)
        }
        let held = HeldFetch()
        let addedStatus = KeyStatus()
        let addedReporter = KeyReporter(userPoolID: second.userPoolID, status: addedStatus)
        // No minimum between fetches: the test's unknown kid fetches again at once after the failed fetch.
        let added = JWKSCache(
            settings: .init(refreshSeconds: 3600, minRefetchSeconds: 0), fetch: { held.hold($0) },
            observer: { addedReporter.report($0) })
        let one = Authorizer(
            verifier: TokenVerifier(pools: [rules[0]]), pools: [first.keys()], cache: VerifiedTokenCache(capacity: 10),
            revocations: Revocations())
        let two = Authorizer(
            verifier: TokenVerifier(pools: rules),
            pools: [first.keys(), PoolKeys(userPoolID: second.userPoolID, jwks: added, status: addedStatus)],
            cache: VerifiedTokenCache(capacity: 10), revocations: Revocations())
        defer { for pool in one.pools + two.pools { pool.jwks.stop() } }
        readiness.use(one)
        #expect(conditions(readiness) == [], "the first pool's keys are loaded")

        // A reload adds the second pool and takes over before its first fetch answers.
        added.start()
        readiness.use(two)
        #expect(conditions(readiness) == ["signing_keys:\(second.userPoolID)"])
        #expect(readiness.unmet.first?.1 == "the JWKS has not been fetched yet")
        held.answer(.failure(JWKSCache.JWKSFetchError("HTTP status 500")))
        #expect(readiness.unmet.first?.1.contains("last JWKS fetch failed: HTTP status 500") == true)
        added.refetch(forUnknownKeyID: "kid1") { _ in }
        held.answer(.success(second.jwks))
        #expect(conditions(readiness) == [], "the second pool's keys are loaded")

        // A reload removes it again; its stopped cache's report of a fetch under way comes after.
        readiness.use(one)
        added.stop()
        addedReporter.report(.failed(reason: "HTTP status 500", retryInSeconds: 1, keysHeld: 0))
        #expect(conditions(readiness) == [], "the removed pool is not waited for")
        readiness.block("listeners", reason: "listeners are not bound yet")
        #expect(conditions(readiness) == ["listeners"])
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
