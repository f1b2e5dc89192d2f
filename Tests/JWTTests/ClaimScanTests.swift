import Cryptography
import Encoding
import Foundation
import TestSupport
import Testing

@testable import JWT

private let now = Date().timeIntervalSince1970
private let issuer = TokenFactory.issuer
/// An issuer with a K, which U+212A KELVIN SIGN is canonically equivalent to.
private let kelvinIssuer = TokenFactory.issuer + "K"
private let signature = Base64URL.encode([UInt8](repeating: 7, count: 256))
private let defaultHeader = #"{"alg":"RS256","kid":"test-key-1"}"#

private func makeRules(_ tokenUse: TokenRules.Use = .id, issuer: String = issuer) -> TokenRules {
    TokenRules(issuer: issuer, clientIDs: ["client1", "client2"], tokenUse: tokenUse, clockSkew: 60)
}

/// The verifier's verdict on a header and payload, all but the RSA verify (the signature is not checked).
private func verdict(
    header: [UInt8], payload: [UInt8], rules: TokenRules, keys: JWKSet
) -> Result<VerifiedToken, TokenRejection> {
    let token = Array((Base64URL.encode(header) + "." + Base64URL.encode(payload) + "." + signature).utf8)
    return Result { () throws(TokenRejection) in
        try withBytes(token) { raw throws(TokenRejection) in
            try SignedToken.withParts(raw) { signed throws(TokenRejection) in
                let (keyID, _) = try signed.signingKey(in: keys)
                return try TokenVerifier(rules: rules).claims(of: signed, keyID: keyID, now: now)
            }
        }
    }
}

/// The same as the tree-based verifier judged it.
private func referenceVerdict(
    header: [UInt8], payload: [UInt8], rules: TokenRules, keys: JWKSet
) -> Result<VerifiedToken, TokenRejection> {
    let reference = ReferenceVerifier(rules: rules)
    return Result { () throws(TokenRejection) in
        let keyID = try reference.keyID(header: header, keys: keys)
        return try reference.claims(payload: payload, keyID: keyID, now: now)
    }
}

/// A token signed by the test key over exactly these payload bytes (which need not be UTF-8), through verify.
private func verifySigned(_ payload: [UInt8], rules: TokenRules = makeRules()) -> Result<VerifiedToken, TokenRejection>
{
    let factory = TokenFactory.shared
    let input = Base64URL.encode(Array(defaultHeader.utf8)) + "." + Base64URL.encode(payload)
    let token = input + "." + Base64URL.encode(factory.key.signRS256(Array(input.utf8)))
    return Result { () throws(TokenRejection) in
        try TokenVerifier(rules: rules).verify(Array(token.utf8), keys: factory.keySet, now: now)
    }
}

private func payload(_ members: [String]) -> [UInt8] {
    Array(("{" + members.joined(separator: ",") + "}").utf8)
}

private let exp = "\(Int(now) + 3600)"
private let validIDMembers = [
    #""iss":"\#(issuer)""#, #""token_use":"id""#, #""aud":"client1""#, #""sub":"s-1""#,
    #""cognito:username":"alice""#, #""exp":\#(exp)"#, #""iat":\#(Int(now) - 10)"#,
]

@Suite struct ClaimScanTests {
    static let genericValues = [
        "1", "-1", "0", "-0", "1.5", "1e3", #""x""#, #""""#, "null", "true", "[]", "{}", #"["x"]"#, #"[1,"x"]"#,
        #"{"a":1}"#, #""\u0000""#, #""a\nb""#, #""\u007f""#, #""é""#, #""e\u0301""#, #""\u00e9""#,
        "\"" + String(repeating: "a", count: 1024) + "\"", "\"" + String(repeating: "a", count: 1025) + "\"",
    ]

    /// Values tried for each claim the rules read, beside the generic ones.
    static let claimValues: [(name: String, values: [String])] = [
        (
            "iss",
            [
                #""\#(issuer)""#, #""\#(issuer.replacingOccurrences(of: "/", with: #"\/"#))""#, #""\#(issuer)/""#,
                #""\#(kelvinIssuer)""#, #""\#(issuer)\u212a""#, #""\#(issuer)\u004B""#, #""\#(issuer)\u212A ""#,
            ]
        ),
        (
            "token_use",
            [#""id""#, #""access""#, #""\u0069d""#, #""ID""#, #""refresh""#, #""id\u0301""#, #""acce\u0073s""#]
        ),
        (
            "aud",
            [
                #""client1""#, #""client2""#, #"["other","client2"]"#, #"[1,"client1"]"#, #""client9""#,
                #""\u0063lient1""#,
            ]
        ),
        ("client_id", [#""client1""#, #""client9""#, #""client\u0031""#, #"["client1"]"#]),
        (
            "exp",
            [
                exp, "\(exp).5", "4.1e9", "4.1E+9", "\(Int(now) - 61)", "\(Int(now) - 30)", "1e300", "253402300799",
                "253402300800", "99999999999999999999", "1e400", #""\#(exp)""#,
            ]
        ),
        ("nbf", ["\(Int(now) - 10)", "\(Int(now) + 30)", "\(Int(now) + 120)", "1.7e9", "\(Int(now) + 120).0"]),
        ("iat", ["\(Int(now) - 10)", "\(Int(now) + 30)", "\(Int(now) + 120)", "1e3", "-1"]),
        ("sub", [#""s-1""#, #""a\r\nX-Auth-Sub: b""#, #""e\u0301""#, #""\u0041""#]),
        ("cognito:username", [#""alice""#, #""al\u0000ice""#, #""al\tice""#]),
        ("username", [#""alice""#, #""bob\u007f""#]),
        (
            "cognito:groups",
            [#"["admins","staff"]"#, #"["a\nb"]"#, #""admins""#, #"[1]"#, #"["é","e\u0301"]"#, #"["a","a"]"#]
        ),
        ("scope", [#""openid orders/read""#, #""  a  b ""#, #""a \u0301b c""#, #""a\tb""#, #""é b""#, #""x\u0020y""#]),
        ("custom:x", [#"{"a":[1,{"b":[]}]}"#, #"[[[[[[[0]]]]]]]"#, #"[[[[[[[[0]]]]]]]]"#, #"{"k":1,"\u006b":2}"#]),
    ]

    static let spellings: [String: String] = [
        "iss": #"\u0069ss"#, "token_use": #"token\u005fuse"#, "aud": #"a\u0075d"#, "exp": #"\u0065xp"#,
        "sub": #"su\u0062"#, "cognito:groups": #"cognito\u003agroups"#, "scope": #"\u0073cope"#,
    ]

    /// Thousands of payloads, each claim kept, dropped, replaced by a value of another type or shape, spelled
    /// with an escape or given twice, under each token_use setting and two issuers: the byte scanner's verdict,
    /// reason and VerifiedToken are the tree-based verifier's.
    @Test func claimVerdictsAreTheTreeBasedVerifiers() {
        var random = SplitMix64(state: 7_203_511)
        let keys = TokenFactory.shared.keySet
        let header = Array(defaultHeader.utf8)
        var verdicts: [String: Int] = [:]
        for round in 0..<2_500 {
            let tokenUse: TokenRules.Use = [.id, .access, .any][round % 3]
            let ruleIssuer = round % 5 == 0 ? kelvinIssuer : issuer
            // Most claims as a valid token of the round's kind has them, a few changed: most verdicts then turn
            // on the one change.
            let defaults = [
                "iss": #""\#(ruleIssuer)""#, "token_use": tokenUse == .access ? #""access""# : #""id""#,
            ]
            var members: [String] = []
            for (name, values) in Self.claimValues {
                let roll = Int.random(in: 0..<24, using: &random)
                guard roll > 0 else { continue }
                let value =
                    roll <= 20
                    ? defaults[name] ?? values[0]
                    : roll <= 22
                        ? values.randomElement(using: &random)! : Self.genericValues.randomElement(using: &random)!
                let key = Int.random(in: 0..<20, using: &random) == 0 ? Self.spellings[name] ?? name : name
                members.append("\"\(key)\":\(value)")
                if Int.random(in: 0..<150, using: &random) == 0 { members.append("\"\(name)\":\(values[0])") }
            }
            members.shuffle(using: &random)
            let text = payload(members)
            let rules = makeRules(tokenUse, issuer: ruleIssuer)
            let expected = referenceVerdict(header: header, payload: text, rules: rules, keys: keys)
            let got = verdict(header: header, payload: text, rules: rules, keys: keys)
            #expect(got == expected, "\(String(decoding: text, as: UTF8.self)) with \(tokenUse)")
            switch expected {
            case .success: verdicts["accepted", default: 0] += 1
            case .failure(let rejection): verdicts[rejection.description, default: 0] += 1
            }
        }
        // Each outcome comes up often enough to have been compared.
        #expect(verdicts["accepted", default: 0] > 250, "\(verdicts)")
        #expect(verdicts.count >= 12, "\(verdicts)")
    }

    static let headerValues: [(name: String, values: [String])] = [
        ("alg", [#""RS256""#, #""rs256""#, #""RS\u0032\u00356""#, #""none""#, "1", "null", #"["RS256"]"#]),
        ("kid", [#""test-key-1""#, #""""#, #""other""#, "1", "null", #""test-\u006bey-1""#]),
        ("crit", ["null", #"["exp"]"#, "[]", "false"]),
        ("typ", [#""JWT""#, #"{"a":{"a":1,"a":2}}"#]),
    ]

    @Test func headerVerdictsAreTheTreeBasedVerifiers() {
        var random = SplitMix64(state: 99)
        let payload = payload(validIDMembers)
        for round in 0..<1_500 {
            var members: [String] = []
            for (name, values) in Self.headerValues {
                let roll = Int.random(in: 0..<8, using: &random)
                if name == "crit" || name == "typ" ? roll < 6 : roll == 0 { continue }
                let value = roll <= 4 ? values[0] : values.randomElement(using: &random)!
                members.append("\"\(name)\":\(value)")
                if Int.random(in: 0..<30, using: &random) == 0 { members.append("\"\(name)\":\(values[0])") }
            }
            members.shuffle(using: &random)
            let header = Array(("{" + members.joined(separator: ",") + "}").utf8)
            let keys = round % 7 == 0 ? JWKSet.empty : TokenFactory.shared.keySet
            let expected = referenceVerdict(header: header, payload: payload, rules: makeRules(), keys: keys)
            let got = verdict(header: header, payload: payload, rules: makeRules(), keys: keys)
            #expect(got == expected, "\(String(decoding: header, as: UTF8.self))")
        }
        for header in ["[1]", #""x""#, "{", #"{"alg":"RS256","kid":"test-key-1"} x"#] {
            let bytes = Array(header.utf8)
            #expect(
                verdict(header: bytes, payload: payload, rules: makeRules(), keys: TokenFactory.shared.keySet)
                    == referenceVerdict(
                        header: bytes, payload: payload, rules: makeRules(), keys: TokenFactory.shared.keySet))
        }
    }

    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let payload: [UInt8]
        let rejection: TokenRejection?
        var description: String { name }
    }

    static func with(_ changes: [String: String?], extra: [String] = []) -> [UInt8] {
        var members = validIDMembers.filter { member in !changes.keys.contains { member.hasPrefix("\"\($0)\":") } }
        for (name, value) in changes { if let value { members.append("\"\(name)\":\(value)") } }
        return payload(members + extra)
    }

    /// A valid payload with one more member, a string of these raw bytes.
    static func withUnknownString(_ bytes: [UInt8]) -> [UInt8] {
        Array(("{" + validIDMembers.joined(separator: ",") + #","x":""#).utf8) + bytes + Array(#""}"#.utf8)
    }

    /// Signed tokens through the whole verify: what the byte scanner does that the table in TokenVerifierTests
    /// does not reach.
    static let cases: [Case] = [
        Case(name: "valid", payload: with([:]), rejection: nil),
        Case(
            name: "iss twice, once through an escape", payload: with([:], extra: [#""\u0069ss":"\#(issuer)""#]),
            rejection: .malformed("payload is not valid JSON")),
        Case(
            name: "iss named through an escape", payload: with(["iss": nil], extra: [#""\u0069ss":"\#(issuer)""#]),
            rejection: nil),
        Case(
            name: "iss with escaped slashes",
            payload: with(["iss": #""\#(issuer.replacingOccurrences(of: "/", with: #"\/"#))""#]), rejection: nil),
        Case(name: "exp with an exponent", payload: with(["exp": "4.1e9"]), rejection: nil),
        Case(name: "exp with a fraction", payload: with(["exp": "\(exp).25"]), rejection: nil),
        Case(name: "exp at 9999-12-31", payload: with(["exp": "253402300799"]), rejection: nil),
        Case(
            name: "exp past 9999-12-31", payload: with(["exp": "253402300800"]),
            rejection: .malformed("exp is not a NumericDate")),
        Case(
            name: "exp of 20 digits", payload: with(["exp": "99999999999999999999"]),
            rejection: .malformed("exp is not a NumericDate")),
        Case(
            name: "exp beyond Double", payload: with(["exp": "1e400"]),
            rejection: .malformed("payload is not valid JSON")),
        Case(name: "exp of -0", payload: with(["exp": "-0"]), rejection: .expired),
        Case(name: "exp null", payload: with(["exp": "null"]), rejection: .malformed("exp is not a NumericDate")),
        Case(
            name: "iat as a string", payload: with(["iat": #""1""#]), rejection: .malformed("iat is not a NumericDate")),
        Case(
            name: "a number of 64 characters",
            payload: with([:], extra: [#""n":\#(String(repeating: "7", count: 64))"#]), rejection: nil),
        Case(
            name: "a number of 65 characters",
            payload: with([:], extra: [#""n":\#(String(repeating: "7", count: 65))"#]),
            rejection: .malformed("payload is not valid JSON")),
        Case(
            name: "nested to the limit", payload: with([:], extra: [#""x":[[[[[[[{}]]]]]]],"y":[[[[[[[0]]]]]]]"#]),
            rejection: nil),
        Case(
            name: "nested past the limit", payload: with([:], extra: [#""x":[[[[[[[[0]]]]]]]]"#]),
            rejection: .malformed("payload is not valid JSON")),
        Case(
            name: "a duplicate deep in an unknown claim", payload: with([:], extra: [#""x":[{"a":{"b":1,"b":2}}]"#]),
            rejection: .malformed("payload is not valid JSON")),
        Case(
            name: "invalid UTF-8 in an unknown claim", payload: withUnknownString([0x61, 0xC3, 0x28]),
            rejection: .malformed("payload is not valid JSON")),
        Case(
            name: "an overlong form in an unknown claim", payload: withUnknownString([0xC0, 0xAF]),
            rejection: .malformed("payload is not valid JSON")),
        Case(
            name: "whitespace everywhere",
            payload: Array(
                " \n{\t\"iss\" :\r\"\(issuer)\" , \"token_use\"\n:\"id\",\"aud\" : [ \"client1\" ] ,\"sub\":\"s\",\"exp\" :\(exp) } \r\n"
                    .utf8), rejection: nil),
        Case(
            name: "trailing garbage", payload: with([:]) + Array(" x".utf8),
            rejection: .malformed("payload is not valid JSON")),
        Case(
            name: "a second object", payload: with([:]) + with([:]), rejection: .malformed("payload is not valid JSON")),
        Case(
            name: "aud among other types", payload: with(["aud": #"[1,null,{"client1":1},"client2"]"#]), rejection: nil),
        Case(name: "iss as a number", payload: with(["iss": "1"]), rejection: .wrongIssuer),
        Case(name: "token_use as an array", payload: with(["token_use": #"["id"]"#]), rejection: .wrongTokenUse),
        Case(name: "sub as a number", payload: with(["sub": "1"]), rejection: .malformed("sub")),
        Case(
            name: "sub of 1025 bytes", payload: with(["sub": "\"" + String(repeating: "é", count: 513) + "\""]),
            rejection: .malformed("sub")),
    ]

    @Test(arguments: cases)
    func signedTokensAreJudgedAsBefore(_ testCase: Case) {
        let result = verifySigned(testCase.payload)
        let expected = ReferenceVerifier(rules: makeRules()).claimsResult(testCase.payload)
        #expect(result == expected)
        switch (result, testCase.rejection) {
        case (.success, nil): break
        case (.failure(let rejection), let expected?): #expect(rejection == expected)
        default: Issue.record("\(result) where \(testCase.rejection.map(\.description) ?? "acceptance") was expected")
        }
    }

    /// Swift's String equality holds U+212A KELVIN SIGN equal to "K"; the issuer must equal exactly, so an
    /// issuer with a K refuses a token that has the Kelvin sign in its place, escaped or not.
    @Test func kelvinSignDoesNotStandForK() throws {
        for iss in [#""\#(issuer)\u212A""#, "\"\(issuer)\u{212A}\""] {
            let payload = Self.with(["iss": iss])
            #expect(throws: TokenRejection.wrongIssuer) {
                try verifySigned(payload, rules: makeRules(issuer: kelvinIssuer)).get()
            }
            #expect(throws: TokenRejection.wrongIssuer) { try verifySigned(payload).get() }
        }
        let exact = Self.with(["iss": #""\#(kelvinIssuer)""#])
        #expect((try? verifySigned(exact, rules: makeRules(issuer: kelvinIssuer)).get()) != nil)
    }

    @Test func scopesSplitOnCharactersAsBefore() throws {
        let members = [
            #""iss":"\#(issuer)""#, #""token_use":"access""#, #""client_id":"client1""#, #""sub":"s""#,
            #""exp":\#(exp)"#, #""scope":"a \u0301b  orders/read é""#,
        ]
        let verified = try verifySigned(payload(members), rules: makeRules(.access)).get()
        #expect(verified.scopes == ["a \u{301}b", "orders/read", "é"])
        #expect(verified.encodedPayload == Base64URL.encode(payload(members)))
        #expect(verified.payload == payload(members))
    }
}

extension ReferenceVerifier {
    fileprivate func claimsResult(_ payload: [UInt8]) -> Result<VerifiedToken, TokenRejection> {
        Result { () throws(TokenRejection) in try claims(payload: payload, keyID: "test-key-1", now: now) }
    }
}
