import Cryptography
import Encoding

@testable import JWT

/// The header and claim rules as the verifier ran them on StrictJSON trees before it scanned bytes, kept
/// word for word as the oracle that the byte scanner's verdicts are held to (ClaimScanTests).
struct ReferenceVerifier {
    let rules: TokenRules

    func keyID(header: [UInt8], keys: JWKSet) throws(TokenRejection) -> String {
        let header = try jsonObject(header, "header")
        guard header["crit"] == nil else { throw .malformed("crit header") }
        guard header["alg"] == .string("RS256") else { throw .unsupportedAlgorithm }
        guard let keyID = header["kid"]?.string, !keyID.isEmpty else { throw .malformed("no kid") }
        guard keys.keys[keyID] != nil else { throw keys.keys.isEmpty ? .noSigningKeys : .unknownKeyID }
        return keyID
    }

    func claims(payload: [UInt8], keyID: String, now: Double) throws(TokenRejection) -> VerifiedToken {
        let claims = try jsonObject(payload, "payload")
        // "Equals exactly" (SPEC.md): the same bytes, not Swift's canonical equivalence.
        func same(_ left: String, _ right: String) -> Bool { Array(left.utf8) == Array(right.utf8) }
        guard let issuer = claims["iss"]?.string, same(issuer, rules.issuer) else { throw .wrongIssuer }
        guard let tokenUse = claims["token_use"]?.string else { throw .wrongTokenUse }
        switch (rules.tokenUse, tokenUse) {
        case (.id, "id"), (.access, "access"), (.any, "id"), (.any, "access"): break
        default: throw .wrongTokenUse
        }
        if tokenUse == "id" {
            let audiences: [String]
            switch claims["aud"] {
            case .string(let audience): audiences = [audience]
            case .array(let values): audiences = values.compactMap(\.string)
            default: audiences = []
            }
            guard audiences.contains(where: { audience in rules.clientIDs.contains { same($0, audience) } }) else {
                throw .wrongAudience
            }
        } else {
            guard let client = claims["client_id"]?.string, rules.clientIDs.contains(where: { same($0, client) }) else {
                throw .wrongAudience
            }
        }
        guard let expiry = try date(claims, "exp") else { throw .malformed("no exp") }
        guard now < expiry + rules.clockSkew else { throw .expired }
        if let notBefore = try date(claims, "nbf"), notBefore > now + rules.clockSkew { throw .notYetValid }
        let issuedAt = try date(claims, "iat")
        if let issuedAt, issuedAt > now + rules.clockSkew { throw .issuedInFuture }

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
        // It knows one pool: the verifier it is held against has that one only.
        return VerifiedToken(
            pool: 0, keyID: keyID, subject: subject, username: username, groups: groups, scopes: scopes,
            tokenUse: tokenUse,
            expiresAt: expiry, issuedAt: issuedAt, payload: payload
        )
    }

    private func date(_ claims: [String: JSONValue], _ name: String) throws(TokenRejection) -> Double? {
        guard let value = claims[name] else { return nil }
        guard let number = value.number, number >= 0, number <= TokenVerifier.latestDate else {
            throw .malformed("\(name) is not a NumericDate")
        }
        return number
    }

    private func isHeaderSafe(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 1024
            && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }
}
