internal import COpenSSL

/// SHA-256 digests.
package enum SHA256 {
    /// Fetched once for the process (OpenSSL 3 would look it up on every call otherwise); never freed.
    nonisolated(unsafe) static let algorithm: OpaquePointer = {
        guard let fetched = copenssl_fetch_sha256() else { preconditionFailure("libcrypto has no SHA-256") }
        return fetched
    }()

    package static func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { digest, initialized in
            hash(data, into: UnsafeMutableRawBufferPointer(digest))
            initialized = 32
        }
    }

    /// The digest written into the first 32 bytes of `digest`, which the caller owns: the token cache hashes
    /// every request's token and keeps only words of it, so no array is made.
    package static func hash(_ data: UnsafeRawBufferPointer, into digest: UnsafeMutableRawBufferPointer) {
        precondition(digest.count >= 32, "SHA-256 needs 32 bytes")
        let bytes = data.bindMemory(to: UInt8.self)
        let ok = copenssl_sha256(
            bytes.baseAddress, bytes.count, digest.baseAddress?.assumingMemoryBound(to: UInt8.self))
        precondition(ok == 1, "SHA-256 failed: libcrypto is broken")
    }

    package static func hash(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash($0) }
    }
}

/// HMAC-SHA256, for SigV4 and Cognito's SECRET_HASH.
package enum HMACSHA256 {
    package static func authenticationCode(key: [UInt8], message: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let bytes = message.bindMemory(to: UInt8.self)
        let ok = key.withUnsafeBufferPointer { keyBytes in
            digest.withUnsafeMutableBufferPointer {
                copenssl_hmac_sha256(
                    keyBytes.baseAddress, keyBytes.count, bytes.baseAddress, bytes.count, $0.baseAddress)
            }
        }
        precondition(ok == 1, "HMAC-SHA256 failed: libcrypto is broken")
        return digest
    }

    package static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { authenticationCode(key: key, message: $0) }
    }
}
