import Cryptography
import Foundation
import TestSupport
import Testing

func hexBytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

struct RSAVector: CustomStringConvertible, Sendable {
    let id: Int
    let modulus: [UInt8]
    let exponent: [UInt8]
    let message: [UInt8]
    let signature: [UInt8]
    let result: String
    let comment: String
    var description: String { "tcId \(id) \(result) \(comment)" }

    static func load() throws -> [RSAVector] {
        let url = TestData.root.appendingPathComponent("wycheproof/rsa_signature_2048_sha256_test.json")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var vectors: [RSAVector] = []
        for group in root["testGroups"] as! [[String: Any]] {
            let key = group["publicKey"] as! [String: Any]
            let modulus = hexBytes(key["modulus"] as! String)
            let exponent = hexBytes(key["publicExponent"] as! String)
            for test in group["tests"] as! [[String: Any]] {
                vectors.append(
                    RSAVector(
                        id: test["tcId"] as! Int, modulus: modulus, exponent: exponent,
                        message: hexBytes(test["msg"] as! String), signature: hexBytes(test["sig"] as! String),
                        result: test["result"] as! String, comment: test["comment"] as! String
                    ))
            }
        }
        return vectors
    }
}

@Suite struct RSAWycheproofTests {
    static let vectors = (try? RSAVector.load()) ?? []

    @Test func vectorsArePresent() {
        #expect(Self.vectors.count == 259, "Wycheproof RSA vectors not found under \(TestData.root.path)")
    }

    @Test(arguments: vectors)
    func rs256VerificationMatchesWycheproof(_ vector: RSAVector) throws {
        let key = try RSAPublicKey(modulus: vector.modulus, exponent: vector.exponent)
        #expect(key.bits == 2048)
        let verified = key.verifyRS256(message: vector.message, signature: vector.signature)
        switch vector.result {
        case "valid": #expect(verified)
        case "invalid": #expect(!verified)
        default: break  // "acceptable": either answer is allowed
        }
    }

    @Test func sha256MatchesTheKnownDigest() {
        let digest = SHA256.hash(Array("abc".utf8))
        #expect(
            digest.map { String(format: "%02x", $0) }.joined()
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: [[UInt8]([2]), [1], [0, 1], [], [0, 0]])
    func invalidExponentsAreRefused(exponent: [UInt8]) {
        let error = #expect(throws: RSAPublicKey.InvalidKey.self) {
            try RSAPublicKey(modulus: [UInt8](repeating: 0xFF, count: 256), exponent: exponent)
        }
        #expect(error?.code == .invalidComponents, "refused before OpenSSL sees it")
    }
}
