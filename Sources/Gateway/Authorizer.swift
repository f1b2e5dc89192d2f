import Dispatch
import Encoding
import HTTP1
import JWT
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

/// Checks bearer tokens: the verified-token cache first, then the signature and claims against the JWKS,
/// with one coalesced JWKS re-fetch when a token names an unknown kid.
final class Authorizer: Sendable {
    let verifier: TokenVerifier
    let jwks: JWKSCache
    let cache: VerifiedTokenCache

    init(verifier: TokenVerifier, jwks: JWKSCache, cache: VerifiedTokenCache) {
        self.verifier = verifier
        self.jwks = jwks
        self.cache = cache
    }

    /// Decides for `head` on `route`. `completion` runs at once, or later on the JWKS queue when a fetch
    /// was needed: the caller hops back to its loop.
    func authorize(
        _ head: RequestHead, route: RouteSettings, completion: @escaping @Sendable (AuthorizationOutcome) -> Void
    ) {
        let tokenRange: Range<Int>
        switch Self.bearerToken(head) {
        case .success(let range): tokenRange = range
        case .failure(let rejection):
            completion(.rejected(rejection))
            return
        }
        let now = SystemClock.wallClockSeconds()
        // The token is hashed and verified where it lies in the request head; it is copied only to wait for
        // a JWKS fetch.
        let step = head.bytes.withUnsafeBytes { raw -> FirstStep in
            let token = UnsafeRawBufferPointer(rebasing: raw[tokenRange])
            let key = VerifiedTokenCache.Key(token: token)
            if let cached = cache.lookup(key, now: now) { return .decided(decide(cached, route: route)) }
            guard jwks.everLoaded else { return .decided(.rejected(.noSigningKeys)) }
            switch verify(token, keys: jwks.keys, now: now, key: key) {
            case .success(let verified): return .decided(decide(verified, route: route))
            case .failure(.unknownKeyID), .failure(.noSigningKeys): return .refetch(Array(token), key)
            case .failure(let rejection): return .decided(.rejected(rejection))
            }
        }
        switch step {
        case .decided(let outcome):
            completion(outcome)
        case .refetch(let token, let key):
            let keyID = UnverifiedToken.header(token)?["kid"]?.string ?? ""
            jwks.refetch(forUnknownKeyID: keyID) { [self] keys in
                let result = token.withUnsafeBytes {
                    self.verify($0, keys: keys, now: SystemClock.wallClockSeconds(), key: key)
                }
                switch result {
                case .success(let verified): completion(self.decide(verified, route: route))
                case .failure(.noSigningKeys): completion(.rejected(.unknownKeyID))
                case .failure(let rejection): completion(.rejected(rejection))
                }
            }
        }
    }

    /// What the cache and the keys at hand decide, or the token to check again once the JWKS is fetched.
    private enum FirstStep {
        case decided(AuthorizationOutcome)
        case refetch([UInt8], VerifiedTokenCache.Key)
    }

    private func verify(
        _ token: UnsafeRawBufferPointer, keys: JWKSet, now: Double, key: VerifiedTokenCache.Key
    ) -> Result<VerifiedToken, TokenRejection> {
        let result = Result { () throws(TokenRejection) in try verifier.verify(token, keys: keys, now: now) }
        if case .success(let verified) = result { cache.insert(key, verified) }
        return result
    }

    private func decide(_ token: VerifiedToken, route: RouteSettings) -> AuthorizationOutcome {
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
