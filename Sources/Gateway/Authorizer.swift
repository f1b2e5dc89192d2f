import Dispatch
import Encoding
import HTTP1
import JWT
import Synchronization
import Time

#if canImport(Glibc)
    import Glibc
#endif

/// The decision on one request of a route with `auth = "required"`.
enum AuthorizationOutcome: Sendable {
    case allowed(VerifiedToken)
    case rejected(TokenRejection)
    /// The token is valid but the route's groups or scopes are not satisfied.
    case forbidden(VerifiedToken, reason: String)
}

/// One user pool as the authorizer holds it: its id (what a route's `pools` names), its own JWKS cache, and whether
/// that cache's keys can judge tokens (what /readyz says of the pool).
struct PoolKeys: Sendable {
    let userPoolID: String
    let jwks: JWKSCache
    let status: KeyStatus

    init(userPoolID: String, jwks: JWKSCache, status: KeyStatus = KeyStatus()) {
        self.userPoolID = userPoolID
        self.jwks = jwks
        self.status = status
    }
}

/// Checks bearer tokens: the verified-token cache first, then the signature and claims against the JWKS of the
/// pool the token's `iss` picks, with one coalesced re-fetch of that pool's JWKS when a token names an unknown kid;
/// then the route's `pools` and the gateway's revocations, for cached and new tokens alike.
final class Authorizer: Sendable {
    let verifier: TokenVerifier
    /// /signout's rules: the same but for token_use, since it takes access tokens whatever token_use says.
    let accessTokenVerifier: TokenVerifier
    /// In the verifier's order: a verified token's `pool` indexes it.
    let pools: [PoolKeys]
    let cache: VerifiedTokenCache
    let revocations: Revocations

    init(verifier: TokenVerifier, pools: [PoolKeys], cache: VerifiedTokenCache, revocations: Revocations) {
        precondition(verifier.pools.count == pools.count, "one JWKS cache per pool of the verifier")
        self.verifier = verifier
        accessTokenVerifier = verifier.acceptingAccessTokensOnly()
        self.pools = pools
        self.cache = cache
        self.revocations = revocations
    }

    /// Calls `then` once every pool's keys were first loaded (see `JWKSCache.whenFirstLoaded`).
    func whenEveryPoolLoaded(_ then: @escaping @Sendable () -> Void) {
        let remaining = Countdown(pools.count, then)
        for pool in pools { pool.jwks.whenFirstLoaded { remaining.tick() } }
    }

    /// What `authorize` could decide at once.
    enum Decision {
        case decided(AuthorizationOutcome)
        /// The token names a key the JWKS may have gained: `authorize(after:route:completion:)` finishes it.
        case awaitingKeys(PendingToken)
    }

    /// A token copied out of its request to wait for a JWKS fetch.
    struct PendingToken: Sendable {
        fileprivate let token: [UInt8]
        fileprivate let key: VerifiedTokenCache.Key?
        /// The pool its `iss` picked, whose keys are fetched again.
        fileprivate let pool: Int
    }

    /// Decides for `head` on `route` at once, as almost every request is decided: from the token cache or
    /// with the keys at hand. No closure is made for that path; only a token waiting for keys needs one.
    func authorize(_ head: RequestHead, route: RouteSettings) -> Decision {
        switch firstStep(head, purpose: .route) {
        case .decided(let result): return .decided(decide(result, route: route))
        case .refetch(let token, let key, let pool):
            return .awaitingKeys(PendingToken(token: token, key: key, pool: pool))
        }
    }

    /// Finishes a decision that waited for keys. `completion` runs on the JWKS queue: the caller hops back to
    /// its loop.
    func authorize(
        after pending: PendingToken, route: RouteSettings,
        completion: @escaping @Sendable (AuthorizationOutcome) -> Void
    ) {
        refetch(pending.token, key: pending.key, pool: pending.pool, purpose: .route) { [self] in
            completion(decide($0, route: route))
        }
    }

    /// The token of a `POST /signout`: an access token valid by every rule but token_use, and not revoked.
    /// `completion` runs as `authorize`'s does.
    func authorizeSignOut(
        _ head: RequestHead, completion: @escaping @Sendable (Result<VerifiedToken, TokenRejection>) -> Void
    ) {
        switch firstStep(head, purpose: .signOut) {
        case .decided(let result): completion(result)
        case .refetch(let token, let key, let pool):
            refetch(token, key: key, pool: pool, purpose: .signOut, completion: completion)
        }
    }

    private enum Purpose {
        /// A route's request: the configured token_use; verified tokens go to the cache.
        case route
        /// /signout: access tokens only; the tokens it verifies are not cached, since a route with
        /// token_use = "id" must not find an access token there.
        case signOut
    }

    /// What the cache and the keys at hand decide, or the token to check again once the JWKS is fetched.
    private enum FirstStep {
        case decided(Result<VerifiedToken, TokenRejection>)
        case refetch([UInt8], VerifiedTokenCache.Key?, pool: Int)
    }

    private func firstStep(_ head: RequestHead, purpose: Purpose) -> FirstStep {
        let tokenRange: Range<Int>
        switch Self.bearerToken(head) {
        case .success(let range): tokenRange = range
        case .failure(let rejection): return .decided(.failure(rejection))
        }
        let now = SystemClock.wallClockSeconds()
        // The token is hashed and verified where it lies in the request head; it is copied only to wait for
        // a JWKS fetch.
        return head.bytes.withUnsafeBytes { raw -> FirstStep in
            let token = UnsafeRawBufferPointer(rebasing: raw[tokenRange])
            // With the cache off (token_cache_size = 0) the token is not hashed: a SHA-256 for nothing.
            let key = cache.isEnabled ? VerifiedTokenCache.Key(token: token) : nil
            if let key, let cached = cache.lookup(key, now: now) {
                return .decided(accept(cached, purpose: purpose, now: now))
            }
            // The pool the token's iss picked, if it got that far: one lock for its keys, none for the others'.
            var picked: Int?
            let result = verify(token, now: now, key: key, purpose: purpose) { pool in
                picked = pool
                return pools[pool].jwks.keys
            }
            switch result {
            case .success(let verified): return .decided(accept(verified, purpose: purpose, now: now))
            case .failure(.unknownKeyID), .failure(.noSigningKeys):
                // A kid is looked up only in a picked pool's keys: `picked` is set whenever these are thrown.
                guard let pool = picked else { return .decided(.failure(.unknownKeyID)) }
                // No key of that pool was ever loaded: its JWKS is unreachable since start (503), and a request
                // does not wait on it.
                guard pools[pool].jwks.everLoaded else { return .decided(.failure(.noSigningKeys)) }
                return .refetch(Array(token), key, pool: pool)
            case .failure(let rejection): return .decided(.failure(rejection))
            }
        }
    }

    private func refetch(
        _ token: [UInt8], key: VerifiedTokenCache.Key?, pool: Int, purpose: Purpose,
        completion: @escaping @Sendable (Result<VerifiedToken, TokenRejection>) -> Void
    ) {
        let keyID = UnverifiedToken.header(token)?["kid"]?.string ?? ""
        let jwks = pools[pool].jwks
        jwks.refetch(forUnknownKeyID: keyID) { [self] keys in
            let now = SystemClock.wallClockSeconds()
            let result = token.withUnsafeBytes { raw in
                // The same iss picks the same pool: the keys just fetched are its.
                self.verify(raw, now: now, key: key, purpose: purpose) { picked in
                    picked == pool ? keys : self.pools[picked].jwks.keys
                }
            }
            switch result {
            case .success(let verified): completion(self.accept(verified, purpose: purpose, now: now))
            case .failure(.noSigningKeys): completion(.failure(.unknownKeyID))
            case .failure(let rejection): completion(.failure(rejection))
            }
        }
    }

    private func verify(
        _ token: UnsafeRawBufferPointer, now: Double, key: VerifiedTokenCache.Key?, purpose: Purpose,
        keys: (_ pool: Int) -> JWKSet
    ) -> Result<VerifiedToken, TokenRejection> {
        let verifier = purpose == .route ? self.verifier : accessTokenVerifier
        let result = Result { () throws(TokenRejection) in
            try verifier.verify(token, now: now) { pool throws(TokenRejection) in keys(pool) }
        }
        if purpose == .route, let key, case .success(let verified) = result { cache.insert(key, verified) }
        return result
    }

    /// The checks a verified token, cached or new, still has to pass on every request.
    private func accept(_ token: VerifiedToken, purpose: Purpose, now: Double) -> Result<VerifiedToken, TokenRejection>
    {
        // A cached token was verified for the routes: it may be an ID token.
        if purpose == .signOut && token.tokenUse != "access" { return .failure(.wrongTokenUse) }
        // One atomic load while nothing is revoked (Revocations.swift).
        if revocations.isRevoked(sub: token.subject, issuedAt: token.issuedAt, now: now) { return .failure(.revoked) }
        return .success(token)
    }

    private func decide(_ result: Result<VerifiedToken, TokenRejection>, route: RouteSettings) -> AuthorizationOutcome {
        let token: VerifiedToken
        switch result {
        case .success(let verified): token = verified
        case .failure(let rejection): return .rejected(rejection)
        }
        // On routes that list pools only: an integer or two, resolved from the names with the configuration. A
        // route listing pools none of which resolved accepts none.
        if !route.pools.isEmpty && !route.poolIndices.contains(token.pool) { return .rejected(.poolNotAccepted) }
        if token.satisfies(groups: route.groups, scopes: route.scopes) { return .allowed(token) }
        let reason =
            route.groups.isEmpty || token.satisfies(groups: route.groups, scopes: [])
            ? "scopes not satisfied" : "groups not satisfied"
        return .forbidden(token, reason: reason)
    }

    /// `Authorization: Bearer <jwt>` (scheme case-insensitive) or the bare `<jwt>`, from exactly one field:
    /// where the token lies in `head.bytes`.
    static func bearerToken(_ head: RequestHead) -> Result<Range<Int>, TokenRejection> {
        let field: HeaderField
        switch head.uniqueField(named: "authorization") {
        case .absent: return .failure(.missing)
        case .one(let only): field = only
        case .several: return .failure(.malformed("more than one Authorization field"))
        }
        // Bytes, not Characters: this runs on every request and a token is a kilobyte of ASCII.
        return head.bytes.withUnsafeBytes { raw in
            var start = field.value.lowerBound
            let end = field.value.upperBound
            let schemeLength = 7
            if end - start > schemeLength, raw.equalsLowercase(start..<start + schemeLength, "bearer ") {
                start += schemeLength
                while start < end, raw[start] == 0x20 { start += 1 }
            }
            guard start < end else { return .failure(.missing) }
            // memchr: a byte loop over a slice of the head costs a third of a microsecond per kilobyte token.
            let token = UnsafeRawBufferPointer(rebasing: raw[start..<end])
            guard let base = token.baseAddress, memchr(base, 0x20, token.count) == nil else {
                return .failure(.malformed("not a bearer token"))
            }
            return .success(start..<end)
        }
    }
}

/// Runs an action once `tick` was called `count` times (at once for none).
private final class Countdown: Sendable {
    private let remaining: Mutex<Int>
    private let action: @Sendable () -> Void

    init(_ count: Int, _ action: @escaping @Sendable () -> Void) {
        remaining = Mutex(count)
        self.action = action
        if count == 0 { action() }
    }

    func tick() {
        let done = remaining.withLock { remaining in
            remaining -= 1
            return remaining == 0
        }
        if done { action() }
    }
}
