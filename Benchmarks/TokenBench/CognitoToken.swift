import Cryptography
import Encoding
import JWT

#if canImport(Glibc)
    import Glibc
#endif

/// A Cognito-shaped ID token (the claims, their order and sizes as Cognito issues them), RS256 with a kid,
/// signed by a key made for the run, with the rules and key set that accept it.
struct CognitoToken {
    static let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bq7nFdK2x"
    static let clientID = "4v1e0t5rnm9kq3cs8ajd2ohf6p"
    static let keyID = "Jq9xYbD0v3Zp7LkR2mWc4Tn8Ue6Hs1Ga5Fi0Oj3Bd7Q="

    let key = RSAPrivateKey(generatingBits: 2048)
    let token: [UInt8]
    let rules = TokenRules(issuer: issuer, clientIDs: [clientID], tokenUse: .id, clockSkew: 60)
    let keys: JWKSet
    let publicKey: RSAPublicKey
    /// What the RSA verify is handed: the header and payload parts with their dot, and the decoded signature.
    let signingInput: [UInt8]
    let signature: [UInt8]
    let payloadCount: Int

    init(now: Double) {
        let issuedAt = Int(now) - 60
        let payload = """
            {"sub":"b4a8e2d1-6c3f-4e7a-9d05-1f2e3c4b5a69","email_verified":true,"iss":"\(Self.issuer)",\
            "cognito:username":"b4a8e2d1-6c3f-4e7a-9d05-1f2e3c4b5a69","origin_jti":"7e1c0a9b-3d2f-4b8e-a6c5-\
            0d9f8e7c6b5a","aud":"\(Self.clientID)","event_id":"c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f",\
            "token_use":"id","auth_time":\(issuedAt),"exp":\(issuedAt + 3600),"iat":\(issuedAt),\
            "jti":"5f4e3d2c-1b0a-4987-b6c5-d4e3f2a1b0c9","email":"alice.example@example.com"}
            """
        let header = #"{"kid":"\#(Self.keyID)","alg":"RS256"}"#
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        signingInput = Array(input.utf8)
        signature = key.signRS256(signingInput)
        token = signingInput + Array(".\(Base64URL.encode(signature))".utf8)
        payloadCount = payload.utf8.count
        publicKey = try! RSAPublicKey(modulus: key.modulus, exponent: key.exponent)
        keys = JWKSet(keys: [Self.keyID: publicKey])
    }
}

/// Seconds of CPU this thread has used: other processes on the machine do not count against a figure.
func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
