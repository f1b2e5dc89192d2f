import Cryptography
import Encoding

/// Which tokens the user pool's authorizer accepts (SPEC.md "Token validation").
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

/// Why a token was refused. The reason goes to the access log; the client only sees the status.
package enum TokenRejection: Error, Sendable, Equatable, CustomStringConvertible {
    case missing
    case malformed(String)
    case unsupportedAlgorithm
    case unknownKeyID
    case badSignature
    case wrongIssuer
    case wrongTokenUse
    case wrongAudience
    case expired
    case notYetValid
    case issuedInFuture
    /// No signing key was ever loaded: the gateway cannot judge any token.
    case noSigningKeys
    /// Valid, but its `sub` was signed out or revoked at the gateway after the token was issued.
    case revoked

    package var description: String {
        switch self {
        case .missing: return "no token"
        case .malformed(let detail): return "malformed token: \(detail)"
        case .unsupportedAlgorithm: return "alg is not RS256"
        case .unknownKeyID: return "unknown kid"
        case .badSignature: return "bad signature"
        case .wrongIssuer: return "wrong issuer"
        case .wrongTokenUse: return "token_use not allowed"
        case .wrongAudience: return "audience or client_id not allowed"
        case .expired: return "expired"
        case .notYetValid: return "not yet valid (nbf)"
        case .issuedInFuture: return "issued in the future (iat)"
        case .noSigningKeys: return "no signing keys loaded"
        case .revoked: return "revoked"
        }
    }
}

/// A token whose signature and claims passed: what the routes and the identity headers need.
package struct VerifiedToken: Sendable, Equatable {
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

    package init(
        keyID: String, subject: String, username: String?, groups: [String], scopes: [String], tokenUse: String,
        expiresAt: Double, issuedAt: Double? = nil, payload: [UInt8]
    ) {
        self.init(
            keyID: keyID, subject: subject, username: username, groups: groups, scopes: scopes, tokenUse: tokenUse,
            expiresAt: expiresAt, issuedAt: issuedAt, encodedPayload: Base64URL.encode(payload))
    }

    init(
        keyID: String, subject: String, username: String?, groups: [String], scopes: [String], tokenUse: String,
        expiresAt: Double, issuedAt: Double?, encodedPayload: String
    ) {
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

/// Checks a token exactly as Cognito's authorizer and aws-jwt-verify do: RS256 only, a known kid, the
/// signature, then issuer, token_use, audience or client_id, exp, nbf and iat (CognitoClaims.swift).
package struct TokenVerifier: Sendable {
    package let rules: TokenRules
    let issuers: AllowedValues
    let clientIDs: AllowedValues

    package init(rules: TokenRules) {
        self.rules = rules
        issuers = AllowedValues([rules.issuer])
        clientIDs = AllowedValues(rules.clientIDs)
    }

    /// The latest NumericDate accepted (9999-12-31): anything later is a malformed claim, not a long life.
    static let latestDate = 253_402_300_799.0

    package func verify(_ token: [UInt8], keys: JWKSet, now: Double) throws(TokenRejection) -> VerifiedToken {
        try withBytes(token) { raw throws(TokenRejection) in try verify(raw, keys: keys, now: now) }
    }

    /// The same on bytes in place (a slice of a request head), which is not copied.
    package func verify(_ token: UnsafeRawBufferPointer, keys: JWKSet, now: Double) throws(TokenRejection)
        -> VerifiedToken
    {
        try SignedToken.withParts(token) { signed throws(TokenRejection) in
            let (keyID, key) = try signed.signingKey(in: keys)
            guard signed.signatureVerifies(with: key) else { throw .badSignature }
            return try claims(of: signed, keyID: keyID, now: now)
        }
    }
}
