// Token decoding: the unverified reader (the kid the gateway looks up, the sub sign-in reads), the signature check
// against a key the fuzzer cannot sign with, and the claim rules reached by signing the input's own header and
// payload with the harness's key of the pool its iss names (each of the two pools has its own), as a good token
// would be. The input is a compact JWS, or, when it starts with "{", a payload's JSON, which the harness puts
// behind the header {"alg":"RS256","kid":"fuzz"}: so the fuzzer changes claims, not only their base64url. scripts/fuzz_seeds.py makes Cognito-shaped seeds for the names below.

import Cryptography
import Encoding
import FuzzSupport
import JWT

private enum Harness {
    static let keyID = "fuzz"
    // The smallest key OpenSSL makes: the claim rules do not depend on its size, and signing every input is the
    // harness's main cost.
    static let key = RSAPrivateKey(generatingBits: 512)
    static let keys = try! JWKSet(keys: [keyID: RSAPublicKey(modulus: key.modulus, exponent: key.exponent)])
    /// The second pool's key, under the same kid: a token is verified by its own pool's key only.
    static let secondKey = RSAPrivateKey(generatingBits: 512)
    static let secondKeys = try! JWKSet(keys: [
        keyID: RSAPublicKey(modulus: secondKey.modulus, exponent: secondKey.exponent)
    ])
    static let encodedHeader = Base64URL.encode(#"{"alg":"RS256","kid":"fuzz"}"#.utf8)
    static let now = 1_700_000_000.0
    // Two pools: the iss picks one, whose client ids and token_use must then hold of what it accepts.
    static let verifier = TokenVerifier(pools: [
        TokenRules(
            issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz", clientIDs: ["fuzzclient"],
            tokenUse: .any, clockSkew: 60),
        TokenRules(
            issuer: "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Fuzz2", clientIDs: ["fuzzclient2"],
            tokenUse: .access, clockSkew: 60),
    ])
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = Array(UnsafeRawBufferPointer(start: data, count: size))
    var token = input
    if input.first == UInt8(ascii: "{") {
        token = Array((Harness.encodedHeader + "." + Base64URL.encode(input) + ".c2lnbmF0dXJl").utf8)
    }
    let header = UnverifiedToken.header(token)
    let payload = UnverifiedToken.payload(token)
    precondition(payload == nil || header != nil, "a payload read from a token without a header")

    // No input can carry a signature by a key made at start-up: the check must refuse every one.
    do {
        _ = try JWSSignature.verify(token, keys: Harness.keys)
        preconditionFailure("a signature nobody made was accepted")
    } catch {
        precondition(error != .noSigningKeys && (error != .missing || token.isEmpty), "a refusal for the wrong reason")
    }

    guard let header else { return 0 }
    // A header was read, so the token is three canonical base64url parts whose first is a JSON object.
    let parts = token.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
    precondition(parts.count == 3 && token.count <= 16 * 1024, "a header read from a token of another shape")
    for part in parts {
        guard let bytes = Base64URL.decode(part) else { preconditionFailure("a part that is not base64url") }
        precondition(Base64URL.encode(bytes).utf8.elementsEqual(part), "a part with two encodings")
    }
    let headerJSON = Base64URL.decode(parts[0])!
    precondition((try? StrictJSON.parse(headerJSON, maxDepth: 8).object) == header, "the header misread")

    // Signed with the key of the pool its iss names (the first pool's for any other iss), the token meets the
    // claim rules, which must hold of whatever they accept. Each pool has its own keys.
    let signingInput = Array(token[..<parts[1].endIndex])
    let signedFor = payload?["iss"] == .string(Harness.verifier.pools[1].issuer) ? 1 : 0
    let signature = (signedFor == 1 ? Harness.secondKey : Harness.key).signRS256(signingInput)
    let signed = signingInput + [UInt8(ascii: ".")] + Array(Base64URL.encode(signature).utf8)
    var asked: [Int] = []
    let result = signed.withUnsafeBytes { raw in
        Result { () throws(TokenRejection) in
            try Harness.verifier.verify(raw, now: Harness.now) { pool throws(TokenRejection) in
                asked.append(pool)
                return pool == 1 ? Harness.secondKeys : Harness.keys
            }
        }
    }
    switch result {
    case .success(let verified):
        precondition(asked == [verified.pool], "keys asked for another pool than the one that accepted")
        precondition(verified.pool == signedFor, "verified by another pool's key")
        check(verified, payloadPart: parts[1], claims: payload)
    case .failure(let error):
        precondition(asked.count <= 1, "keys asked for more than one pool")
        let signable = header["alg"] == .string("RS256") && header["kid"] == .string(Harness.keyID)
        if signable && header["crit"] == nil {
            precondition(error != .unknownKeyID, "a kid both pools hold is unknown")
            precondition(error != .badSignature || asked != [signedFor], "a good signature refused")
        }
    }
    return 0
}

/// What a verified token must be: its claims are the payload's, and every value that becomes a request header
/// is a safe header value.
private func check(_ verified: VerifiedToken, payloadPart: ArraySlice<UInt8>, claims: [String: JSONValue]?) {
    guard let claims else { preconditionFailure("verified a payload the unverified reader cannot read") }
    precondition(verified.keyID == Harness.keyID, "verified by another key")
    precondition(Base64URL.decode(payloadPart) == verified.payload, "verified another payload")
    precondition(verified.encodedPayload.utf8.elementsEqual(payloadPart), "X-Auth-Claims is not the payload")
    let rules = Harness.verifier.pools[verified.pool]
    precondition(claims["iss"] == .string(rules.issuer), "another issuer than its pool's")
    precondition(claims["sub"] == .string(verified.subject), "another subject")
    precondition(claims["token_use"] == .string(verified.tokenUse), "another token_use")
    precondition(["id", "access"].contains(verified.tokenUse), "token_use neither id nor access")
    precondition(claims["exp"] == .number(verified.expiresAt), "another expiry")
    precondition(verified.expiresAt + 60 > Harness.now, "expired but verified")
    precondition(rules.tokenUse != .access || verified.tokenUse == "access", "a token_use its pool refuses")
    let clients = rules.clientIDs.map { JSONValue.string($0) }
    if verified.tokenUse == "id" {
        let audiences = claims["aud"]?.array ?? [claims["aud"] ?? .null]
        precondition(audiences.contains(where: clients.contains), "an ID token for another pool's client")
    } else {
        precondition(clients.contains(claims["client_id"] ?? .null), "an access token for another pool's client")
    }
    let headerValues = [verified.subject] + (verified.username.map { [$0] } ?? []) + verified.groups + verified.scopes
    for value in headerValues {
        precondition(!value.isEmpty && value.utf8.count <= 1024, "an identity value empty or too long")
        precondition(value.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }, "a claim that would break a header")
    }
}

FuzzDriver.run(fuzz)
