internal import COpenSSL
import Synchronization

/// An RSA public key owned by OpenSSL, freed with the value. No OpenSSL type leaves this module.
package final class RSAPublicKey: @unchecked Sendable {
    // EVP_PKEY is immutable once built and OpenSSL allows concurrent verifies with it.
    private let key: OpaquePointer
    /// The RS256 verify context every verification duplicates. Only the duplication takes the lock (OpenSSL
    /// does not promise that concurrent duplicates of one context are safe); the verifications run in parallel.
    private let verifier: OpaquePointer
    private let duplication = Mutex(())
    package let bits: Int

    package struct InvalidKey: Error, CustomStringConvertible, Sendable {
        /// A struct, not an enum, so that a new code breaks no caller's switch.
        package struct Code: Sendable, Hashable, CustomStringConvertible {
            private enum Base: String, Sendable {
                case invalidComponents, refusedByOpenSSL
            }

            private let base: Base

            private init(_ base: Base) {
                self.base = base
            }

            /// The modulus or exponent cannot be an RSA public key's (empty, an even exponent, one of 1…).
            package static let invalidComponents = Code(.invalidComponents)
            /// OpenSSL would not build the key, or not verify RS256 with it.
            package static let refusedByOpenSSL = Code(.refusedByOpenSSL)

            package var description: String { base.rawValue }
        }

        package let code: Code
        package let description: String
    }

    /// Builds a key from big-endian modulus and exponent bytes (a JWK's decoded `n` and `e`).
    package init(modulus: [UInt8], exponent: [UInt8]) throws(InvalidKey) {
        guard !modulus.isEmpty, !exponent.isEmpty, exponent.count <= 8 else {
            throw InvalidKey(
                code: .invalidComponents, description: "empty modulus or exponent, or an exponent over 64 bits")
        }
        // An even exponent or one of 1 is not an RSA key; OpenSSL would take it.
        guard exponent.last! & 1 == 1, exponent.contains(where: { $0 != 0 }), exponent != [1],
            exponent.drop(while: { $0 == 0 }) != [1]
        else { throw InvalidKey(code: .invalidComponents, description: "invalid public exponent") }
        let built = modulus.withUnsafeBufferPointer { n in
            exponent.withUnsafeBufferPointer { e in
                copenssl_rsa_public_key(n.baseAddress, n.count, e.baseAddress, e.count)
            }
        }
        guard let built else {
            ERR_clear_error()
            throw InvalidKey(code: .refusedByOpenSSL, description: "OpenSSL refused the key")
        }
        guard let prepared = copenssl_rs256_verifier(built, SHA256.algorithm) else {
            ERR_clear_error()
            EVP_PKEY_free(built)
            throw InvalidKey(code: .refusedByOpenSSL, description: "OpenSSL cannot verify RS256 with the key")
        }
        key = built
        verifier = prepared
        bits = Int(EVP_PKEY_get_bits(built))
    }

    deinit {
        EVP_PKEY_CTX_free(verifier)
        EVP_PKEY_free(key)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    package func verifyRS256(message: UnsafeRawBufferPointer, signature: UnsafeRawBufferPointer) -> Bool {
        let messageBytes = message.bindMemory(to: UInt8.self)
        let signatureBytes = signature.bindMemory(to: UInt8.self)
        let copy = duplication.withLock { _ in UInt(bitPattern: EVP_PKEY_CTX_dup(verifier)) }
        return copenssl_verify_rs256(
            OpaquePointer(bitPattern: copy), messageBytes.baseAddress, messageBytes.count,
            signatureBytes.baseAddress, signatureBytes.count
        ) == 1
    }

    package func verifyRS256(message: [UInt8], signature: [UInt8]) -> Bool {
        message.withUnsafeBytes { messageBuffer in
            signature.withUnsafeBytes { signatureBuffer in
                verifyRS256(message: messageBuffer, signature: signatureBuffer)
            }
        }
    }
}
