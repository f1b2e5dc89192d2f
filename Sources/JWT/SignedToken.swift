package import Cryptography
package import Encoding

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A compact JWS split in place, its three parts decoded into scratch memory and its header read; nothing in
/// it is trusted yet. It exists only inside `withParts`: its buffers point into the token and the scratch.
package struct SignedToken {
    /// The payload part as it came, base64url: the one encoding of the payload, since decoding refuses any other.
    package let encodedPayload: UnsafeRawBufferPointer
    /// The payload JSON, decoded.
    package let payload: UnsafeRawBufferPointer
    /// What was signed: the header and payload parts with the dot between them.
    package let signingInput: UnsafeRawBufferPointer
    package let signature: UnsafeRawBufferPointer
    private let header: UnsafeRawBufferPointer
    private let algorithm: JSONSpan?
    private let keyID: JSONSpan?
    private let hasCriticalExtensions: Bool

    static let maxLength = 16 * 1024

    private enum HeaderMember: Int, CaseIterable {
        case algorithm, keyID, critical
    }

    private static let headerNames = JSONMemberNames(["alg", "kid", "crit"])

    /// Splits and decodes `token` and reads its header, then hands it to `body`.
    package static func withParts<Result>(
        _ token: UnsafeRawBufferPointer, _ body: (SignedToken) throws(TokenRejection) -> Result
    ) throws(TokenRejection) -> Result {
        guard !token.isEmpty else { throw .missing }
        guard token.count <= maxLength else { throw .malformed("longer than \(maxLength) bytes") }
        guard let firstDot = dotIndex(in: token, from: 0), let secondDot = dotIndex(in: token, from: firstDot + 1),
            dotIndex(in: token, from: secondDot + 1) == nil, firstDot > 0, secondDot > firstDot + 1,
            secondDot < token.count - 1
        else { throw .malformed("not three base64url parts") }
        let headerPart = UnsafeRawBufferPointer(rebasing: token[..<firstDot])
        let payloadPart = UnsafeRawBufferPointer(rebasing: token[(firstDot + 1)..<secondDot])
        let signaturePart = UnsafeRawBufferPointer(rebasing: token[(secondDot + 1)...])
        guard let headerCount = Base64URL.decodedCount(headerPart.count),
            let payloadCount = Base64URL.decodedCount(payloadPart.count),
            let signatureCount = Base64URL.decodedCount(signaturePart.count)
        else { throw .malformed("not base64url") }

        return try withScratch(byteCount: headerCount + payloadCount + signatureCount) {
            scratch throws(TokenRejection) in
            let headerOut = UnsafeMutableRawBufferPointer(rebasing: scratch[..<headerCount])
            let payloadOut = UnsafeMutableRawBufferPointer(
                rebasing: scratch[headerCount..<(headerCount + payloadCount)])
            let signatureOut = UnsafeMutableRawBufferPointer(rebasing: scratch[(headerCount + payloadCount)...])
            guard Base64URL.decode(headerPart, into: headerOut) != nil,
                Base64URL.decode(payloadPart, into: payloadOut) != nil,
                Base64URL.decode(signaturePart, into: signatureOut) != nil
            else { throw .malformed("not base64url") }
            let header = UnsafeRawBufferPointer(headerOut)

            var algorithm: JSONSpan?
            var keyID: JSONSpan?
            var hasCriticalExtensions = false
            let isObject: Bool
            do {
                isObject = try StrictJSONScanner.scanObject(header, maxDepth: 8, names: headerNames) { name, value in
                    switch HeaderMember(rawValue: name) {
                    case .algorithm: algorithm = value
                    case .keyID: keyID = value
                    case .critical: hasCriticalExtensions = true
                    case nil: break
                    }
                }
            } catch {
                throw .malformed("header is not valid JSON")
            }
            guard isObject else { throw .malformed("header is not a JSON object") }
            return try body(
                SignedToken(
                    encodedPayload: payloadPart, payload: UnsafeRawBufferPointer(payloadOut),
                    signingInput: UnsafeRawBufferPointer(rebasing: token[..<secondDot]),
                    signature: UnsafeRawBufferPointer(signatureOut), header: header, algorithm: algorithm,
                    keyID: keyID, hasCriticalExtensions: hasCriticalExtensions))
        }
    }

    /// The header's JSON copied out, for the readers that build a tree of it (`UnverifiedToken`).
    var headerBytes: [UInt8] { Array(header) }

    /// The key the header names, once the header says RS256 and requires no extension.
    package func signingKey(in keys: JWKSet) throws(TokenRejection) -> (keyID: String, key: RSAPublicKey) {
        let name = try keyIDOfRS256()
        return (name, try keys.signingKey(named: name))
    }

    /// The kid, once the header says RS256 and requires no extension: what a token must say before any key or
    /// claim is looked at.
    package func keyIDOfRS256() throws(TokenRejection) -> String {
        // No critical extension is understood, so none may be required of us (RFC 7515 §4.1.11).
        guard !hasCriticalExtensions else { throw .malformed("crit header") }
        guard let algorithm, algorithm.kind == .string,
            StrictJSONScanner.withStringBytes(algorithm, in: header, { $0.elementsEqual("RS256".utf8) })
        else { throw .unsupportedAlgorithm }
        guard let keyID, keyID.kind == .string, !keyID.range.isEmpty else { throw .malformed("no kid") }
        return StrictJSONScanner.string(keyID, in: header)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over the signing input, with a signature as long as the key.
    package func signatureVerifies(with key: RSAPublicKey) -> Bool {
        signature.count == (key.bits + 7) / 8 && key.verifyRS256(message: signingInput, signature: signature)
    }
}

extension JWKSet {
    /// The key named `keyID`, or why there is none.
    package func signingKey(named keyID: String) throws(TokenRejection) -> RSAPublicKey {
        guard let key = keys[keyID] else { throw keys.isEmpty ? .noSigningKeys : .unknownKeyID }
        return key
    }
}

/// The first "." in `token` at or after `start`. memchr reads a kilobyte token many bytes at a time; a Swift
/// loop over a slice of it took a fifth of the decoding.
private func dotIndex(in token: UnsafeRawBufferPointer, from start: Int) -> Int? {
    guard start < token.count, let base = token.baseAddress,
        let found = memchr(base + start, Int32(UInt8(ascii: ".")), token.count - start)
    else { return nil }
    return UnsafeRawPointer(found) - base
}

/// Scratch memory for one token's decoded parts: on the stack up to the size the standard library always
/// allows there, on the heap beyond (where its own check of the stack's room costs more than a malloc).
private func withScratch<Result>(
    byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws(TokenRejection) -> Result
) throws(TokenRejection) -> Result {
    if byteCount <= 1024 {
        return try withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 1, body)
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 1)
    defer { buffer.deallocate() }
    return try body(buffer)
}

/// The signature half of verification: a compact JWS signed with RS256 by a key of the set.
package enum JWSSignature {
    /// Returns the payload bytes once the header says RS256 with a known kid and the signature verifies.
    package static func verify(_ token: [UInt8], keys: JWKSet) throws(TokenRejection) -> (
        keyID: String, payload: [UInt8]
    ) {
        try withBytes(token) { raw throws(TokenRejection) in
            try SignedToken.withParts(raw) { signed throws(TokenRejection) in
                let (keyID, key) = try signed.signingKey(in: keys)
                guard signed.signatureVerifies(with: key) else { throw .badSignature }
                return (keyID, Array(signed.payload))
            }
        }
    }
}

/// A token read without any check of its signature or claims: only to find the key it names, or to read
/// what Cognito itself just handed over. Nothing read here may decide what a request is allowed to do.
package enum UnverifiedToken {
    package static func header(_ token: [UInt8]) -> [String: JSONValue]? {
        try? withBytes(token) { raw throws(TokenRejection) in
            try SignedToken.withParts(raw) { signed throws(TokenRejection) in
                try jsonObject(signed.headerBytes, "header")
            }
        }
    }

    package static func payload(_ token: [UInt8]) -> [String: JSONValue]? {
        try? withBytes(token) { raw throws(TokenRejection) in
            try SignedToken.withParts(raw) { signed throws(TokenRejection) in
                try jsonObject(Array(signed.payload), "payload")
            }
        }
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

/// `token.withUnsafeBytes` for a body with typed throws (the standard library's only rethrows).
func withBytes<Result>(
    _ token: [UInt8], _ body: (UnsafeRawBufferPointer) throws(TokenRejection) -> Result
) throws(TokenRejection) -> Result {
    try token.withUnsafeBytes { raw in Swift.Result { () throws(TokenRejection) in try body(raw) } }.get()
}
