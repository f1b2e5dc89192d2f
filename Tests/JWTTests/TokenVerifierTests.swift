import Cryptography
import Encoding
import Foundation
import Testing

@testable import JWT

private let rules = TokenRules(
    issuer: TokenFactory.issuer, clientIDs: ["client1", "client2"], tokenUse: .id, clockSkew: 60)

private func verify(
    _ token: String, rules: TokenRules = rules, keys: JWKSet = TokenFactory.shared.keySet,
    now: Double = Date().timeIntervalSince1970
) -> Result<VerifiedToken, TokenRejection> {
    Result { () throws(TokenRejection) in
        try TokenVerifier(rules: rules).verify(Array(token.utf8), keys: keys, now: now)
    }
}

private func claims(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
    var claims = TokenFactory.idClaims()
    change(&claims)
    return claims
}

@Suite struct TokenVerifierTests {
    let factory = TokenFactory.shared

    @Test func validIDTokenGivesItsIdentity() throws {
        let verified = try verify(factory.token(claims: TokenFactory.idClaims())).get()
        #expect(verified.subject == "11111111-2222-3333-4444-555555555555")
        #expect(verified.username == "alice")
        #expect(verified.groups == ["admins", "staff"])
        #expect(verified.tokenUse == "id")
        #expect(verified.keyID == "test-key-1")
        #expect(verified.satisfies(groups: ["staff"], scopes: []))
        #expect(!verified.satisfies(groups: ["finance"], scopes: []))
    }

    @Test func validAccessTokenGivesItsScopes() throws {
        let accessRules = TokenRules(
            issuer: TokenFactory.issuer, clientIDs: ["client1"], tokenUse: .access, clockSkew: 60)
        let verified = try verify(factory.token(claims: TokenFactory.accessClaims()), rules: accessRules).get()
        #expect(verified.username == "alice")
        #expect(verified.scopes == ["openid", "orders/read"])
        #expect(verified.satisfies(groups: [], scopes: ["orders/write", "orders/read"]))
        #expect(!verified.satisfies(groups: [], scopes: ["orders/write"]))
    }

    /// Gateway-side revocations compare `iat`: it is carried when present, fraction and all, and nil when absent.
    @Test func issuedAtIsCarriedForRevocations() throws {
        let issued = Date().timeIntervalSince1970.rounded(.down) - 30.5
        let with = try verify(factory.token(claims: claims { $0["iat"] = issued })).get()
        #expect(with.issuedAt == issued)
        let without = try verify(factory.token(claims: claims { $0.removeValue(forKey: "iat") })).get()
        #expect(without.issuedAt == nil)
    }

    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let token: @Sendable () -> String
        let rejection: TokenRejection
        var description: String { name }
    }

    static let now = Date().timeIntervalSince1970

    static let cases: [Case] = {
        let factory = TokenFactory.shared
        let good = factory.token(claims: TokenFactory.idClaims())
        let parts = good.split(separator: ".").map(String.init)
        let other = TokenFactory(key: RSAPrivateKey(generatingBits: 2048), keyID: "test-key-1")
        func with(_ change: @escaping (inout [String: Any]) -> Void) -> @Sendable () -> String {
            let token = factory.token(claims: claims(change))
            return { token }
        }
        func fixed(_ token: String) -> @Sendable () -> String { { token } }
        let noneHeader = Base64URL.encode(Array(#"{"alg":"none","kid":"test-key-1"}"#.utf8))
        let hsHeader = Base64URL.encode(Array(#"{"alg":"HS256","kid":"test-key-1"}"#.utf8))
        // The pool's own issuer: the iss picks the keys, and those find the signature is not over this payload.
        let tamperedPayload = Base64URL.encode(Array(#"{"iss":"\#(TokenFactory.issuer)","sub":"mallory"}"#.utf8))
        return [
            Case(name: "empty", token: fixed(""), rejection: .missing),
            Case(
                name: "two parts", token: fixed("\(parts[0]).\(parts[1])"),
                rejection: .malformed("not three base64url parts")),
            Case(name: "four parts", token: fixed(good + ".x"), rejection: .malformed("not three base64url parts")),
            Case(
                name: "padding", token: fixed("\(parts[0])=.\(parts[1]).\(parts[2])"),
                rejection: .malformed("not base64url")),
            Case(
                name: "standard base64 alphabet",
                token: fixed(good.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")),
                rejection: good.contains("-") || good.contains("_") ? .malformed("not base64url") : .badSignature),
            Case(
                name: "alg none", token: fixed("\(noneHeader).\(parts[1])."),
                rejection: .malformed("not three base64url parts")),
            Case(
                name: "alg none with a signature", token: fixed("\(noneHeader).\(parts[1]).\(parts[2])"),
                rejection: .unsupportedAlgorithm),
            Case(
                name: "HS256 confusion", token: fixed("\(hsHeader).\(parts[1]).\(parts[2])"),
                rejection: .unsupportedAlgorithm),
            Case(
                name: "lowercase alg",
                token: fixed(
                    factory.token(header: ["alg": "rs256", "kid": "test-key-1"], claims: TokenFactory.idClaims())),
                rejection: .unsupportedAlgorithm),
            Case(
                name: "no kid", token: fixed(factory.token(header: ["alg": "RS256"], claims: TokenFactory.idClaims())),
                rejection: .malformed("no kid")),
            Case(
                name: "unknown kid",
                token: fixed(factory.token(header: ["alg": "RS256", "kid": "other"], claims: TokenFactory.idClaims())),
                rejection: .unknownKeyID),
            Case(
                name: "crit header",
                token: fixed(
                    factory.token(
                        header: ["alg": "RS256", "kid": "test-key-1", "crit": ["exp"]], claims: TokenFactory.idClaims())
                ),
                rejection: .malformed("crit header")),
            Case(
                name: "signed by another key", token: fixed(other.token(claims: TokenFactory.idClaims())),
                rejection: .badSignature),
            Case(
                name: "tampered payload",
                token: fixed("\(parts[0]).\(tamperedPayload).\(parts[2])"),
                rejection: .badSignature),
            Case(
                name: "truncated signature",
                token: fixed(
                    "\(parts[0]).\(parts[1]).\(Base64URL.encode(Base64URL.decode(Array(parts[2].utf8))!.dropLast(3)))"),
                rejection: .badSignature),
            Case(
                name: "duplicate claim",
                token: fixed(
                    factory.token(
                        claims: [:],
                        rawPayload:
                            #"{"iss":"\#(TokenFactory.issuer)","sub":"a","sub":"b","token_use":"id","aud":"client1","exp":9999999999}"#
                    )),
                rejection: .malformed("payload is not valid JSON")),
            Case(
                name: "payload not an object", token: fixed(factory.token(claims: [:], rawPayload: "[1]")),
                rejection: .malformed("payload is not a JSON object")),
            Case(
                name: "wrong issuer",
                token: with { $0["iss"] = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other" },
                rejection: .wrongIssuer),
            Case(
                name: "issuer with a trailing slash", token: with { $0["iss"] = TokenFactory.issuer + "/" },
                rejection: .wrongIssuer),
            Case(name: "no token_use", token: with { $0["token_use"] = nil }, rejection: .wrongTokenUse),
            Case(
                name: "access token where id is required",
                token: fixed(factory.token(claims: TokenFactory.accessClaims())), rejection: .wrongTokenUse),
            Case(name: "wrong audience", token: with { $0["aud"] = "client9" }, rejection: .wrongAudience),
            Case(name: "no audience", token: with { $0["aud"] = nil }, rejection: .wrongAudience),
            Case(name: "expired", token: with { $0["exp"] = now - 61 }, rejection: .expired),
            Case(name: "no exp", token: with { $0["exp"] = nil }, rejection: .malformed("no exp")),
            Case(
                name: "exp as a string", token: with { $0["exp"] = "9999999999" },
                rejection: .malformed("exp is not a NumericDate")),
            Case(
                name: "exp out of range", token: with { $0["exp"] = 1e300 },
                rejection: .malformed("exp is not a NumericDate")),
            Case(
                name: "negative exp", token: with { $0["exp"] = -1 }, rejection: .malformed("exp is not a NumericDate")),
            Case(name: "nbf in the future", token: with { $0["nbf"] = now + 120 }, rejection: .notYetValid),
            Case(name: "iat in the future", token: with { $0["iat"] = now + 120 }, rejection: .issuedInFuture),
            Case(name: "no sub", token: with { $0["sub"] = nil }, rejection: .malformed("sub")),
            Case(
                name: "sub with a newline", token: with { $0["sub"] = "a\r\nX-Auth-Sub: b" },
                rejection: .malformed("sub")),
            Case(
                name: "groups not an array", token: with { $0["cognito:groups"] = "admins" },
                rejection: .malformed("cognito:groups")),
            Case(
                name: "username with a control character", token: with { $0["cognito:username"] = "al\u{0}ice" },
                rejection: .malformed("cognito:username")),
        ]
    }()

    @Test(arguments: cases)
    func invalidTokenIsRefusedWithItsReason(_ testCase: Case) {
        // At the time the table's claims were written from: a full run may reach this test minutes later.
        switch verify(testCase.token(), now: Self.now) {
        case .success: Issue.record("accepted")
        case .failure(let rejection): #expect(rejection == testCase.rejection)
        }
    }

    @Test func clockSkewIsAllowedBothWays() {
        let now = Date().timeIntervalSince1970
        let factory = TokenFactory.shared
        #expect((try? verify(factory.token(claims: claims { $0["exp"] = now - 30 })).get()) != nil)
        #expect(
            (try? verify(
                factory.token(
                    claims: claims {
                        $0["nbf"] = now + 30
                        $0["iat"] = now + 30
                    })
            ).get()) != nil)
    }

    @Test func audienceMayBeAnArray() {
        let token = TokenFactory.shared.token(claims: claims { $0["aud"] = ["other", "client2"] })
        #expect((try? verify(token).get()) != nil)
    }

    @Test func anyTokenUseAcceptsBoth() {
        let anyRules = TokenRules(issuer: TokenFactory.issuer, clientIDs: ["client1"], tokenUse: .any, clockSkew: 60)
        #expect((try? verify(TokenFactory.shared.token(claims: TokenFactory.idClaims()), rules: anyRules).get()) != nil)
        #expect(
            (try? verify(TokenFactory.shared.token(claims: TokenFactory.accessClaims()), rules: anyRules).get()) != nil)
        let refresh = TokenFactory.shared.token(claims: claims { $0["token_use"] = "refresh" })
        #expect(throws: TokenRejection.wrongTokenUse) { try verify(refresh, rules: anyRules).get() }
    }

    @Test func emptyKeySetMeansNoSigningKeys() {
        let token = TokenFactory.shared.token(claims: TokenFactory.idClaims())
        #expect(throws: TokenRejection.noSigningKeys) { try verify(token, keys: .empty).get() }
    }
}
