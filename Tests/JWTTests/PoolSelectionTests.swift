import Cryptography
import Encoding
import Foundation
import Testing

@testable import JWT

private let issuerA = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_PoolA"
private let issuerB = "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_PoolB"
/// Both pools' keys have the same kid: only the iss may decide which one verifies.
private let poolA = TokenFactory(key: RSAPrivateKey(generatingBits: 2048), keyID: "shared-kid")
private let poolB = TokenFactory(key: RSAPrivateKey(generatingBits: 2048), keyID: "shared-kid")

private let verifier = TokenVerifier(pools: [
    TokenRules(issuer: issuerA, clientIDs: ["clientA"], tokenUse: .id, clockSkew: 60),
    TokenRules(issuer: issuerB, clientIDs: ["clientB"], tokenUse: .access, clockSkew: 60),
])

private func idClaims(_ issuer: String, audience: String) -> [String: Any] {
    var claims = TokenFactory.idClaims()
    claims["iss"] = issuer
    claims["aud"] = audience
    return claims
}

private func accessClaims(_ issuer: String, client: String) -> [String: Any] {
    var claims = TokenFactory.accessClaims()
    claims["iss"] = issuer
    claims["client_id"] = client
    return claims
}

/// The verdict with each pool's own keys, and the pools whose keys were asked for.
private func verdict(_ token: String) -> (result: Result<VerifiedToken, TokenRejection>, asked: [Int]) {
    var asked: [Int] = []
    let result = Array(token.utf8).withUnsafeBytes { raw in
        Result { () throws(TokenRejection) in
            try verifier.verify(raw, now: Date().timeIntervalSince1970) { pool throws(TokenRejection) in
                asked.append(pool)
                return pool == 0 ? poolA.keySet : poolB.keySet
            }
        }
    }
    return (result, asked)
}

/// Several pools (SPEC.md "Token validation"): the token's iss picks the pool whose keys, client ids and
/// token_use apply.
@Suite struct PoolSelectionTests {
    @Test func eachPoolsTokenIsAcceptedWithItsPool() throws {
        let a = verdict(poolA.token(claims: idClaims(issuerA, audience: "clientA")))
        #expect(try a.result.get().pool == 0)
        #expect(a.asked == [0])
        let b = verdict(poolB.token(claims: accessClaims(issuerB, client: "clientB")))
        #expect(try b.result.get().pool == 1)
        #expect(b.asked == [1], "only the picked pool's keys are looked at")
    }

    @Test func aTokenNamingOnePoolButSignedWithTheOthersKeyIsRefused() {
        let forged = verdict(poolB.token(claims: idClaims(issuerA, audience: "clientA")))
        #expect(forged.result == .failure(.badSignature))
        #expect(forged.asked == [0])
    }

    @Test func anIssuerOfNoPoolIsRefusedBeforeAnyKeyIsLookedAt() {
        let other = verdict(poolA.token(claims: idClaims(issuerA + "x", audience: "clientA")))
        #expect(other.result == .failure(.wrongIssuer))
        #expect(other.asked.isEmpty)
        #expect(TokenRejection.wrongIssuer.description == "unknown issuer")
        let none = verdict(poolA.token(claims: idClaims(issuerA, audience: "clientA").filter { $0.key != "iss" }))
        #expect(none.result == .failure(.wrongIssuer))
    }

    @Test func theClientIDsAndTokenUseAreThePickedPoolsOnly() {
        // Pool A's client in a token of pool B, and the other way round.
        #expect(
            verdict(poolB.token(claims: accessClaims(issuerB, client: "clientA"))).result == .failure(.wrongAudience))
        #expect(verdict(poolA.token(claims: idClaims(issuerA, audience: "clientB"))).result == .failure(.wrongAudience))
        // Pool B takes access tokens only, pool A ID tokens only.
        #expect(verdict(poolB.token(claims: idClaims(issuerB, audience: "clientB"))).result == .failure(.wrongTokenUse))
        #expect(
            verdict(poolA.token(claims: accessClaims(issuerA, client: "clientA"))).result == .failure(.wrongTokenUse))
    }

    /// The issuer is compared as the bytes the JSON escapes stand for: "\/" is "/".
    @Test func anEscapedIssuerPicksItsPool() throws {
        var claims = accessClaims(issuerB, client: "clientB")
        claims["iss"] = "ISSUER"
        let json = String(
            decoding: try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]), as: UTF8.self
        )
        .replacingOccurrences(of: "\"ISSUER\"", with: "\"" + issuerB.replacingOccurrences(of: "/", with: "\\/") + "\"")
        #expect(json.contains("\\/"))
        let token = poolB.token(claims: [:], rawPayload: json)
        #expect(try verdict(token).result.get().pool == 1)
    }

    @Test func theAccessTokenVerifierKeepsEveryPool() throws {
        let signOut = verifier.acceptingAccessTokensOnly()
        #expect(signOut.pools.map(\.issuer) == [issuerA, issuerB])
        #expect(signOut.pools.allSatisfy { $0.tokenUse == .access })
    }

    @Test func aPoolsKeyRefreshDropsOnlyItsOwnCachedTokens() {
        let cache = VerifiedTokenCache(capacity: 10)
        func key(_ text: String) -> VerifiedTokenCache.Key {
            Array(text.utf8).withUnsafeBytes { VerifiedTokenCache.Key(token: $0) }
        }
        func token(pool: Int) -> VerifiedToken {
            VerifiedToken(
                pool: pool, keyID: "shared-kid", subject: "s", username: nil, groups: [], scopes: [], tokenUse: "id",
                expiresAt: 2_000_000_000, payload: [])
        }
        cache.insert(key("a"), token(pool: 0))
        cache.insert(key("b"), token(pool: 1))
        cache.retainOnly(pool: 1, keyIDs: ["rotated"])
        #expect(cache.lookup(key("a"), now: 0)?.pool == 0, "pool A still holds shared-kid")
        #expect(cache.lookup(key("b"), now: 0) == nil)
    }
}
