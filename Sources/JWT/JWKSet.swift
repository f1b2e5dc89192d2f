package import Cryptography
import Encoding

/// The signing keys of a user pool, by `kid`. Immutable: a refresh builds a new set and swaps it in.
package struct JWKSet: Sendable {
    package let keys: [String: RSAPublicKey]

    package init(keys: [String: RSAPublicKey]) {
        self.keys = keys
    }

    package static let empty = JWKSet(keys: [:])

    package static let maxBytes = 1 << 20
    package static let maxKeys = 100
    package static let minimumBits = 2048

    package struct Invalid: Error, Sendable, CustomStringConvertible {
        package let description: String
    }

    /// Parses a JWKS document. Keys that cannot sign RS256 tokens (not RSA, `use` other than `sig`, `alg` other
    /// than RS256, shorter than 2048 bits, malformed) are skipped and reported; a document that is not a JWKS at
    /// all throws, so the caller keeps the keys it had.
    package static func parse(_ data: [UInt8]) throws(Invalid) -> (set: JWKSet, skipped: [String]) {
        guard data.count <= maxBytes else { throw Invalid(description: "JWKS larger than \(maxBytes) bytes") }
        let root: JSONValue
        do {
            root = try StrictJSON.parse(data, maxDepth: 8)
        } catch {
            throw Invalid(description: "JWKS is not JSON: \(error.description) at byte \(error.offset)")
        }
        guard let entries = root.object?["keys"]?.array else {
            throw Invalid(description: "JWKS has no \"keys\" array")
        }
        guard entries.count <= maxKeys else { throw Invalid(description: "JWKS holds more than \(maxKeys) keys") }
        var keys: [String: RSAPublicKey] = [:]
        var skipped: [String] = []
        var duplicated: Set<String> = []
        for (index, entry) in entries.enumerated() {
            let kid = entry.object?["kid"]?.string
            let label = kid.map { "kid \"\($0)\"" } ?? "key \(index)"
            switch signingKey(entry) {
            case .success(let key):
                guard let kid else {
                    skipped.append("\(label): no kid")
                    continue
                }
                if keys[kid] != nil || duplicated.contains(kid) {
                    // Two keys under one kid: which one signed a token would be a guess.
                    duplicated.insert(kid)
                    keys.removeValue(forKey: kid)
                    skipped.append("\(label): kid used by more than one key")
                } else {
                    keys[kid] = key
                }
            case .failure(let reason):
                skipped.append("\(label): \(reason.description)")
            }
        }
        return (JWKSet(keys: keys), skipped)
    }

    private static func signingKey(_ entry: JSONValue) -> Result<RSAPublicKey, Invalid> {
        guard let fields = entry.object else { return .failure(Invalid(description: "not an object")) }
        guard fields["kty"]?.string == "RSA" else {
            return .failure(Invalid(description: "kty is not RSA"))
        }
        if let use = fields["use"], use.string != "sig" {
            return .failure(Invalid(description: "use is not sig"))
        }
        if let alg = fields["alg"], alg.string != "RS256" {
            return .failure(Invalid(description: "alg is not RS256"))
        }
        if let operations = fields["key_ops"] {
            guard operations.array?.contains(.string("verify")) == true else {
                return .failure(Invalid(description: "key_ops does not allow verify"))
            }
        }
        guard let modulusText = fields["n"]?.string, let modulus = Base64URL.decode(modulusText.utf8),
            let exponentText = fields["e"]?.string, let exponent = Base64URL.decode(exponentText.utf8)
        else { return .failure(Invalid(description: "n or e is missing or not base64url")) }
        // A modulus with a leading zero byte is not the minimal encoding RFC 7518 §6.3.1.1 requires.
        guard modulus.first != 0 else { return .failure(Invalid(description: "n has a leading zero byte")) }
        do {
            let key = try RSAPublicKey(modulus: modulus, exponent: exponent)
            guard key.bits >= minimumBits else {
                return .failure(Invalid(description: "\(key.bits)-bit key is shorter than \(minimumBits) bits"))
            }
            return .success(key)
        } catch {
            return .failure(Invalid(description: error.description))
        }
    }
}
