internal import COpenSSL

/// An RSA key pair that signs RS256. authgate never signs tokens itself: this serves its tests and tools,
/// which need tokens from keys they control.
package final class RSAPrivateKey: @unchecked Sendable {
    private let key: OpaquePointer
    package let bits: Int

    package init(generatingBits bits: Int = 2048) {
        guard let generated = copenssl_rsa_generate(UInt32(bits)) else {
            preconditionFailure("RSA key generation failed")
        }
        key = generated
        self.bits = Int(EVP_PKEY_get_bits(generated))
    }

    deinit {
        EVP_PKEY_free(key)
    }

    package var modulus: [UInt8] { component(exponent: false) }
    package var exponent: [UInt8] { component(exponent: true) }

    private func component(exponent: Bool) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 1024)
        let length = out.withUnsafeMutableBufferPointer {
            copenssl_rsa_component(key, exponent ? 1 : 0, $0.baseAddress, Int32($0.count))
        }
        precondition(length > 0, "RSA component export failed")
        return Array(out[0..<Int(length)])
    }

    package func signRS256(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 1024)
        var length = signature.count
        let ok = message.withUnsafeBufferPointer { input in
            signature.withUnsafeMutableBufferPointer {
                copenssl_sign_rs256(key, input.baseAddress, input.count, $0.baseAddress, &length)
            }
        }
        precondition(ok == 1, "RS256 signing failed")
        return Array(signature[0..<length])
    }
}
