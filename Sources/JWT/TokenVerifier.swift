import Cryptography
import Encoding

/// Which tokens one user pool's authorizer accepts (SPEC.md "Token validation").
package struct TokenRules: Sendable {
    package enum Use: String, Sendable {
        case id, access, any
    }

    package var issuer: String
    package var clientIDs: Set<String>
    package var tokenUse: Use
    /// Seconds of tolerance for exp, nbf and iat.
    package var clockSkew: Double

    package init(issuer: String, clientIDs: Set<String>, tokenUse: Use, clockSkew: Double) {
        self.issuer = issuer
        self.clientIDs = clientIDs
        self.tokenUse = tokenUse
        self.clockSkew = clockSkew
    }
}

/// Why a token was refused. The reason goes to the access log and, as a fixed name, to the metrics; the client
/// only sees the status. A struct, not an enum callers switch on (STYLE.md "Errors"), so that a new reason breaks
/// no caller.
package struct TokenRejection: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case missing, malformed, unsupportedAlgorithm, unknownKeyID, badSignature, wrongIssuer, wrongTokenUse
        case wrongAudience, expired, notYetValid, issuedInFuture, noSigningKeys, revoked, poolNotAccepted
    }

    private let code: Code
    /// What is malformed: the access log's detail; empty for the other reasons.
    private let detail: String

    private init(_ code: Code, detail: String = "") {
        self.code = code
        self.detail = detail
    }

    package static let missing = TokenRejection(.missing)
    package static func malformed(_ detail: String) -> TokenRejection { TokenRejection(.malformed, detail: detail) }
    package static let unsupportedAlgorithm = TokenRejection(.unsupportedAlgorithm)
    package static let unknownKeyID = TokenRejection(.unknownKeyID)
    package static let badSignature = TokenRejection(.badSignature)
    /// The `iss` names none of the configured pools.
    package static let wrongIssuer = TokenRejection(.wrongIssuer)
    package static let wrongTokenUse = TokenRejection(.wrongTokenUse)
    package static let wrongAudience = TokenRejection(.wrongAudience)
    package static let expired = TokenRejection(.expired)
    package static let notYetValid = TokenRejection(.notYetValid)
    package static let issuedInFuture = TokenRejection(.issuedInFuture)
    /// No signing key was ever loaded: the gateway cannot judge any token.
    package static let noSigningKeys = TokenRejection(.noSigningKeys)
    /// Valid, but its `sub` was signed out or revoked at the gateway after the token was issued.
    package static let revoked = TokenRejection(.revoked)
    /// Valid, but issued by a pool the route's `pools` does not list.
    package static let poolNotAccepted = TokenRejection(.poolNotAccepted)

    package var description: String {
        switch code {
        case .missing: return "no token"
        case .malformed: return "malformed token: \(detail)"
        case .unsupportedAlgorithm: return "alg is not RS256"
        case .unknownKeyID: return "unknown kid"
        case .badSignature: return "bad signature"
        case .wrongIssuer: return "unknown issuer"
        case .wrongTokenUse: return "token_use not allowed"
        case .wrongAudience: return "audience or client_id not allowed"
        case .expired: return "expired"
        case .notYetValid: return "not yet valid (nbf)"
        case .issuedInFuture: return "issued in the future (iat)"
        case .noSigningKeys: return "no signing keys loaded"
        case .revoked: return "revoked"
        case .poolNotAccepted: return "pool not accepted on this route"
        }
    }

    /// The reason as a metric label (`authgate_authorization_failures_total{reason}`): one fixed name a reason,
    /// never the detail, so that a client cannot make new label values.
    package var metricReason: String {
        switch code {
        case .missing: return "no_token"
        case .malformed: return "malformed"
        case .unsupportedAlgorithm: return "unsupported_alg"
        case .unknownKeyID: return "unknown_kid"
        case .badSignature: return "bad_signature"
        case .wrongIssuer: return "wrong_issuer"
        case .wrongTokenUse: return "wrong_token_use"
        case .wrongAudience: return "wrong_audience"
        case .expired: return "expired"
        case .notYetValid: return "not_yet_valid"
        case .issuedInFuture: return "issued_in_future"
        case .noSigningKeys: return "no_signing_keys"
        case .revoked: return "revoked"
        case .poolNotAccepted: return "pool_not_accepted"
        }
    }
}

/// A token whose signature and claims passed: what the routes and the identity headers need.
/// A class: it is handed from the cache to the exchange and kept in its states, and a struct of nine fields,
/// most of them reference-counted, cost a retain per field on every copy (callgrind: 3k instructions a request).
package final class VerifiedToken: Sendable, Equatable {
    /// The pool that accepted it: its index in the verifier's `pools` (0 is `[cognito]`). A cached token keeps it,
    /// so that a route's `pools` is checked on every request.
    package let pool: Int
    package let keyID: String
    package let subject: String
    package let username: String?
    package let groups: [String]
    package let scopes: [String]
    package let tokenUse: String
    /// Seconds since the epoch.
    package let expiresAt: Double
    /// The `iat` claim (seconds since the epoch), when the token has one: gateway-side revocations compare it.
    package let issuedAt: Double?
    /// The payload base64url-encoded, for X-Auth-Claims: the token's own payload part, which is the one
    /// encoding of the payload since decoding refuses any other.
    package let encodedPayload: String

    /// The payload exactly as signed (decoded from base64url), for the few readers outside the request path.
    package var payload: [UInt8] { Base64URL.decode(encodedPayload.utf8) ?? [] }

    package convenience init(
        pool: Int, keyID: String, subject: String, username: String?, groups: [String], scopes: [String],
        tokenUse: String, expiresAt: Double, issuedAt: Double? = nil, payload: [UInt8]
    ) {
        self.init(
            pool: pool, keyID: keyID, subject: subject, username: username, groups: groups, scopes: scopes,
            tokenUse: tokenUse, expiresAt: expiresAt, issuedAt: issuedAt, encodedPayload: Base64URL.encode(payload))
    }

    package static func == (left: VerifiedToken, right: VerifiedToken) -> Bool {
        left.pool == right.pool && left.keyID == right.keyID && left.subject == right.subject
            && left.username == right.username && left.groups == right.groups && left.scopes == right.scopes
            && left.tokenUse == right.tokenUse && left.expiresAt == right.expiresAt && left.issuedAt == right.issuedAt
            && left.encodedPayload == right.encodedPayload
    }

    init(
        pool: Int, keyID: String, subject: String, username: String?, groups: [String], scopes: [String],
        tokenUse: String, expiresAt: Double, issuedAt: Double?, encodedPayload: String
    ) {
        self.pool = pool
        self.keyID = keyID
        self.subject = subject
        self.username = username
        self.groups = groups
        self.scopes = scopes
        self.tokenUse = tokenUse
        self.expiresAt = expiresAt
        self.issuedAt = issuedAt
        self.encodedPayload = encodedPayload
    }

    /// Whether the route's requirements hold: any one of `groups`, any one of `scopes` (empty lists pass).
    package func satisfies(groups required: [String], scopes requiredScopes: [String]) -> Bool {
        (required.isEmpty || required.contains { groups.contains($0) })
            && (requiredScopes.isEmpty || requiredScopes.contains { scopes.contains($0) })
    }
}

/// Checks a token exactly as Cognito's authorizer and aws-jwt-verify do: RS256 only, the issuer, a known kid,
/// the signature, then token_use, audience or client_id, exp, nbf and iat (CognitoClaims.swift).
///
/// With several pools the token's `iss` picks one (as Envoy's jwt_authn picks a provider and aws-jwt-verify a
/// user pool), found in the one scan of the payload: only that pool's keys verify the signature and only its
/// client ids and token_use apply. An `iss` of no pool is refused before any key is looked up.
package struct TokenVerifier: Sendable {
    /// The pools whose tokens are accepted, `[cognito]` first; no two share an issuer (the configuration
    /// refuses that).
    package let pools: [TokenRules]
    /// Each pool's issuer and client ids as bytes, in the order of `pools`.
    let matchers: [PoolMatcher]

    struct PoolMatcher: Sendable {
        let issuer: AllowedValues
        let clientIDs: AllowedValues
    }

    /// One pool.
    package init(rules: TokenRules) {
        self.init(pools: [rules])
    }

    package init(pools: [TokenRules]) {
        precondition(!pools.isEmpty, "a verifier needs at least one pool")
        self.pools = pools
        matchers = pools.map { PoolMatcher(issuer: AllowedValues([$0.issuer]), clientIDs: AllowedValues($0.clientIDs)) }
    }

    /// The same pools, taking access tokens only (/signout: GlobalSignOut accepts nothing else).
    package func acceptingAccessTokensOnly() -> TokenVerifier {
        TokenVerifier(
            pools: pools.map { rules in
                var rules = rules
                rules.tokenUse = .access
                return rules
            })
    }

    /// The latest NumericDate accepted (9999-12-31): anything later is a malformed claim, not a long life.
    static let latestDate = 253_402_300_799.0

    /// `keys` verifies the tokens of every pool (the usual single pool).
    package func verify(_ token: [UInt8], keys: JWKSet, now: Double) throws(TokenRejection) -> VerifiedToken {
        try withBytes(token) { raw throws(TokenRejection) in try verify(raw, keys: keys, now: now) }
    }

    /// The same on bytes in place (a slice of a request head), which is not copied.
    package func verify(_ token: UnsafeRawBufferPointer, keys: JWKSet, now: Double) throws(TokenRejection)
        -> VerifiedToken
    {
        try verify(token, now: now) { _ throws(TokenRejection) in keys }
    }

    /// `keys(pool)` gives the keys of the pool the token's `iss` picked (an index into `pools`); it is called
    /// once, after the header and the payload were read and before the signature is checked, and not at all
    /// for a token whose `iss` names no pool.
    package func verify(
        _ token: UnsafeRawBufferPointer, now: Double, keys: (_ pool: Int) throws(TokenRejection) -> JWKSet
    ) throws(TokenRejection) -> VerifiedToken {
        try SignedToken.withParts(token) { signed throws(TokenRejection) in
            let keyID = try signed.keyIDOfRS256()
            return try withClaims(of: signed) { claims throws(TokenRejection) in
                let pool = try self.pool(of: claims)
                let key = try keys(pool).signingKey(named: keyID)
                guard signed.signatureVerifies(with: key) else { throw .badSignature }
                return try verified(claims, pool: pool, keyID: keyID, signed: signed, now: now)
            }
        }
    }
}
