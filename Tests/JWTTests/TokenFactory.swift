import Cryptography
import Encoding
import Foundation
import JWT

/// Signs Cognito-shaped tokens with keys the test controls.
struct TokenFactory {
    let key: RSAPrivateKey
    let keyID: String

    static let shared = TokenFactory(key: RSAPrivateKey(generatingBits: 2048), keyID: "test-key-1")

    var jwk: [String: Any] {
        [
            "kty": "RSA", "kid": keyID, "use": "sig", "alg": "RS256",
            "n": Base64URL.encode(key.modulus), "e": Base64URL.encode(key.exponent),
        ]
    }

    var keySet: JWKSet {
        try! JWKSet(keys: [keyID: RSAPublicKey(modulus: key.modulus, exponent: key.exponent)])
    }

    func token(header: [String: Any]? = nil, claims: [String: Any], rawPayload: String? = nil) -> String {
        let headerObject = header ?? ["alg": "RS256", "kid": keyID]
        let headerPart = Base64URL.encode(
            try! JSONSerialization.data(withJSONObject: headerObject, options: [.sortedKeys]))
        let payloadData =
            rawPayload.map { Data($0.utf8) }
            ?? (try! JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let payloadPart = Base64URL.encode(payloadData)
        let signingInput = "\(headerPart).\(payloadPart)"
        return "\(signingInput).\(Base64URL.encode(key.signRS256(Array(signingInput.utf8))))"
    }

    static let issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"

    static func idClaims(now: Double = Date().timeIntervalSince1970) -> [String: Any] {
        [
            "iss": issuer, "token_use": "id", "aud": "client1", "sub": "11111111-2222-3333-4444-555555555555",
            "cognito:username": "alice", "cognito:groups": ["admins", "staff"], "exp": now + 3600, "iat": now - 10,
            "auth_time": now - 10,
        ]
    }

    static func accessClaims(now: Double = Date().timeIntervalSince1970) -> [String: Any] {
        [
            "iss": issuer, "token_use": "access", "client_id": "client1", "sub": "11111111-2222-3333-4444-555555555555",
            "username": "alice", "scope": "openid orders/read", "exp": now + 3600, "iat": now - 10,
        ]
    }
}
