import Cryptography
import Foundation
import TestSupport
import Testing

struct HMACVector: CustomStringConvertible, Sendable {
    let id: Int
    let key: [UInt8]
    let message: [UInt8]
    let tag: [UInt8]
    let valid: Bool
    var description: String { "tcId \(id) (\(tag.count * 8)-bit tag, \(valid ? "valid" : "invalid"))" }

    static func load() throws -> [HMACVector] {
        let url = TestData.root.appendingPathComponent("wycheproof/hmac_sha256_test.json")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var vectors: [HMACVector] = []
        for group in root["testGroups"] as! [[String: Any]] {
            for test in group["tests"] as! [[String: Any]] {
                vectors.append(
                    HMACVector(
                        id: test["tcId"] as! Int, key: hexBytes(test["key"] as! String),
                        message: hexBytes(test["msg"] as! String),
                        tag: hexBytes(test["tag"] as! String), valid: test["result"] as! String == "valid"
                    ))
            }
        }
        return vectors
    }
}

@Suite struct HMACWycheproofTests {
    /// Wycheproof lists full and truncated (128-bit) tags; a truncated tag is compared with our digest's prefix.
    @Test func everyVector() throws {
        let vectors = try HMACVector.load()
        #expect(vectors.count == 174)
        for vector in vectors {
            let digest = HMACSHA256.authenticationCode(key: vector.key, message: vector.message)
            let matches = Array(digest.prefix(vector.tag.count)) == vector.tag
            #expect(matches == vector.valid, "\(vector)")
        }
    }
}
