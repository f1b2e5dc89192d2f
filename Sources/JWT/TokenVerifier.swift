import Cryptography
public import Encoding
import Foundation

/// Which tokens the user pool's authorizer accepts (SPEC.md "Token validation").
public struct TokenRules: Sendable {
    public enum Use: String, Sendable {
        case id, access, any
    }

    public var issuer: String
    public var clientIDs: Set<String>
    public var tokenUse: Use
    /// Seconds of tolerance for exp, nbf and iat.
    public var clockSkew: Double

    public init(issuer: String, clientIDs: Set<String>, tokenUse: Use, clockSkew: Double) {
        self.issuer = issuer
        self.clientIDs = clientIDs
        self.tokenUse = tokenUse
        self.clockSkew = clockSkew
    }
}

/// Why a token was refused. The reason goes to the access log; the client only sees the status.
public enum TokenRejection: Error, Sendable, Equatable, CustomStringConvertible {
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

    public var description: String {
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
        }
    }
}

/// A token whose signature and claims passed: what the routes and the identity headers need.
public struct VerifiedToken: Sendable, Equatable {
    public let keyID: String
    public let subject: String
    public let username: String?
    public let groups: [String]
    public let scopes: [String]
    public let tokenUse: String
    /// Seconds since the epoch.
    public let expiresAt: Double
    /// The payload exactly as signed (decoded from base64url).
    public let payload: [UInt8]
    /// The payload base64url-encoded, made once per token, for X-Auth-Claims.
    public let encodedPayload: String

    public init(
        keyID: String, subject: String, username: String?, groups: [String], scopes: [String], tokenUse: String,
        expiresAt: Double, payload: [UInt8]
    ) {
        self.keyID = keyID
        self.subject = subject
        self.username = username
        self.groups = groups
        self.scopes = scopes
        self.tokenUse = tokenUse
        self.expiresAt = expiresAt
        self.payload = payload
        self.encodedPayload = Base64URL.encode(payload)
    }

    /// Whether the route's requirements hold: any one of `groups`, any one of `scopes` (empty lists pass).
    public func satisfies(groups required: [String], scopes requiredScopes: [String]) -> Bool {
        (required.isEmpty || required.contains { groups.contains($0) })
            && (requiredScopes.isEmpty || requiredScopes.contains { scopes.contains($0) })
    }
}

/// A compact JWS split into its parts, before anything is trusted.
struct DecodedToken {
    let header: [String: JSONValue]
    let payloadBytes: [UInt8]
    let signingInput: [UInt8]
    let signature: [UInt8]

    static let maxLength = 16 * 1024

    static func decode(_ token: [UInt8]) throws(TokenRejection) -> DecodedToken {
        guard !token.isEmpty else { throw .missing }
        guard token.count <= maxLength else { throw .malformed("longer than \(maxLength) bytes") }
        let parts = token.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw .malformed("not three base64url parts")
        }
        guard let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed("not base64url") }
        let header = try jsonObject(headerBytes, "header")
        let signingInput = Array(token[token.startIndex..<parts[1].endIndex])
        return DecodedToken(
            header: header, payloadBytes: payloadBytes, signingInput: signingInput, signature: signature)
    }
}

/// A token read without any check of its signature or claims: only to find the key it names, or to read
/// what Cognito itself just handed over. Nothing read here may decide what a request is allowed to do.
public enum UnverifiedToken {
    public static func header(_ token: [UInt8]) -> [String: JSONValue]? {
        try? DecodedToken.decode(token).header
    }

    public static func payload(_ token: [UInt8]) -> [String: JSONValue]? {
        guard let decoded = try? DecodedToken.decode(token) else { return nil }
        return try? jsonObject(decoded.payloadBytes, "payload")
    }
}

func jsonObject(_ bytes: [UInt8], _ part: String) throws(TokenRejection) -> [String: JSONValue] {
    let value: JSONValue
    do {
        value = try StrictJSON.parse(bytes, maxDepth: 8)
    } catch {
        throw .malformed("\(part) is not valid JSON")
    }
    guard let object = value.object else { throw .malformed("\(part) is not a JSON object") }
    return object
}

/// The signature half of verification: a compact JWS signed with RS256 by a key of the set.
public enum JWSSignature {
    /// Returns the payload bytes once the header says RS256 with a known kid and the signature verifies.
    public static func verify(_ token: [UInt8], keys: JWKSet) throws(TokenRejection) -> (
        keyID: String, payload: [UInt8]
    ) {
        let decoded = try DecodedToken.decode(token)
        // No critical extension is understood, so none may be required of us (RFC 7515 §4.1.11).
        guard decoded.header["crit"] == nil else { throw .malformed("crit header") }
        guard decoded.header["alg"] == .string("RS256") else { throw .unsupportedAlgorithm }
        guard let keyID = decoded.header["kid"]?.string, !keyID.isEmpty else { throw .malformed("no kid") }
        guard let key = keys.keys[keyID] else { throw keys.keys.isEmpty ? .noSigningKeys : .unknownKeyID }
        guard decoded.signature.count == (key.bits + 7) / 8,
            key.verifyRS256(message: decoded.signingInput, signature: decoded.signature)
        else { throw .badSignature }
        return (keyID, decoded.payloadBytes)
    }
}

/// Checks a token exactly as Cognito's authorizer and aws-jwt-verify do: RS256 only, a known kid, the
/// signature, then issuer, token_use, audience or client_id, exp, nbf and iat.
public struct TokenVerifier: Sendable {
    public let rules: TokenRules

    public init(rules: TokenRules) {
        self.rules = rules
    }

    /// The latest NumericDate accepted (9999-12-31): anything later is a malformed claim, not a long life.
    static let latestDate = 253_402_300_799.0

    public func verify(_ token: [UInt8], keys: JWKSet, now: Double) throws(TokenRejection) -> VerifiedToken {
        let (keyID, payload) = try JWSSignature.verify(token, keys: keys)
        return try checkClaims(jsonObject(payload, "payload"), payload: payload, keyID: keyID, now: now)
    }

    private func checkClaims(
        _ claims: [String: JSONValue],
        payload: [UInt8],
        keyID: String,
        now: Double
    ) throws(TokenRejection) -> VerifiedToken {
        guard claims["iss"]?.string == rules.issuer else { throw .wrongIssuer }
        guard let tokenUse = claims["token_use"]?.string else { throw .wrongTokenUse }
        switch (rules.tokenUse, tokenUse) {
        case (.id, "id"), (.access, "access"), (.any, "id"), (.any, "access"): break
        default: throw .wrongTokenUse
        }
        if tokenUse == "id" {
            // An ID token's aud is its app client (a string; an array is accepted as RFC 7519 allows).
            let audiences: [String]
            switch claims["aud"] {
            case .string(let audience): audiences = [audience]
            case .array(let values): audiences = values.compactMap(\.string)
            default: audiences = []
            }
            guard audiences.contains(where: rules.clientIDs.contains) else { throw .wrongAudience }
        } else {
            guard let client = claims["client_id"]?.string, rules.clientIDs.contains(client) else {
                throw .wrongAudience
            }
        }
        guard let expiry = try date(claims, "exp") else { throw .malformed("no exp") }
        guard now < expiry + rules.clockSkew else { throw .expired }
        if let notBefore = try date(claims, "nbf"), notBefore > now + rules.clockSkew { throw .notYetValid }
        if let issuedAt = try date(claims, "iat"), issuedAt > now + rules.clockSkew { throw .issuedInFuture }

        // Claims that become request headers must be safe as header values.
        guard let subject = claims["sub"]?.string, isHeaderSafe(subject) else { throw .malformed("sub") }
        let usernameClaim = tokenUse == "id" ? "cognito:username" : "username"
        var username: String?
        if let value = claims[usernameClaim] {
            guard let text = value.string, isHeaderSafe(text) else { throw .malformed(usernameClaim) }
            username = text
        }
        var groups: [String] = []
        if let value = claims["cognito:groups"] {
            guard let list = value.array else { throw .malformed("cognito:groups") }
            for element in list {
                guard let group = element.string, isHeaderSafe(group) else { throw .malformed("cognito:groups") }
                groups.append(group)
            }
        }
        var scopes: [String] = []
        if let value = claims["scope"] {
            guard let text = value.string, isHeaderSafe(text) else { throw .malformed("scope") }
            scopes = text.split(separator: " ").map(String.init)
        }
        return VerifiedToken(
            keyID: keyID, subject: subject, username: username, groups: groups, scopes: scopes, tokenUse: tokenUse,
            expiresAt: expiry, payload: payload
        )
    }

    private func date(_ claims: [String: JSONValue], _ name: String) throws(TokenRejection) -> Double? {
        guard let value = claims[name] else { return nil }
        guard let number = value.number, number >= 0, number <= Self.latestDate else {
            throw .malformed("\(name) is not a NumericDate")
        }
        return number
    }

    private func isHeaderSafe(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 1024
            && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }
}
