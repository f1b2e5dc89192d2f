import Endpoints
import Foundation
import TestSupport
import Testing

@testable import AWS

/// One case of the SigV4 test suite: the request (`.req`) and what signing it must produce.
struct SigV4Case: CustomStringConvertible, Sendable {
    let name: String
    let directory: URL
    let method: String
    let path: String
    let query: String
    let headers: [(String, String)]
    let body: [UInt8]
    var description: String { name }

    func expected(_ suffix: String) -> String? {
        try? String(contentsOf: directory.appendingPathComponent("\(name).\(suffix)"), encoding: .utf8)
    }

    /// `.req` files: a request line, `Name:value` lines where an indented line is one more value of the
    /// field above it, a blank line, the body. The final newline is not part of the body.
    static func load(_ directory: URL) throws -> SigV4Case {
        let name = directory.lastPathComponent
        let text = try String(contentsOf: directory.appendingPathComponent("\(name).req"), encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        let method = String(requestLine[0])
        // The target may hold spaces (get-space): everything between the method and the version.
        let target = requestLine.dropFirst().dropLast().joined(separator: " ")
        let path = String(target.prefix { $0 != "?" })
        let query = target.contains("?") ? String(target.drop { $0 != "?" }.dropFirst()) : ""
        var headers: [(String, String)] = []
        var bodyLines: [String]?
        for line in lines {
            if bodyLines != nil {
                bodyLines!.append(line)
            } else if line.isEmpty {
                bodyLines = []
            } else if line.first == " " || line.first == "\t" {
                headers.append((headers.last!.0, line.trimmingCharacters(in: .whitespaces)))
            } else {
                let colon = line.firstIndex(of: ":")!
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        let body = (bodyLines ?? []).joined(separator: "\n")
        return SigV4Case(
            name: name, directory: directory, method: method, path: path, query: query, headers: headers,
            body: Array(body.utf8)
        )
    }

    /// Every directory under `root` that holds a `.req` named after it.
    static func all(under root: URL) throws -> [SigV4Case] {
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
        var cases: [SigV4Case] = []
        for case let url as URL in enumerator where url.pathExtension == "req" {
            let directory = url.deletingLastPathComponent()
            if url.deletingPathExtension().lastPathComponent == directory.lastPathComponent {
                cases.append(try load(directory))
            }
        }
        return cases.sorted { $0.name < $1.name }
    }
}

let suiteCredentials = AWSCredentials(
    accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", source: "test suite"
)

@Suite struct SigV4SuiteTests {
    static let suiteCases = (try? SigV4Case.all(under: TestData.root.appendingPathComponent("sigv4"))) ?? []

    @Test func theSuiteIsThere() {
        #expect(Self.suiteCases.count >= 30, "found \(Self.suiteCases.count) cases")
    }

    @Test(arguments: suiteCases)
    func suiteCase(_ test: SigV4Case) throws {
        let signer = SigV4Signer(region: "us-east-1", service: "service")
        let amzDate = try #require(test.headers.first { $0.0.lowercased() == "x-amz-date" }?.1)
        var request = SigV4Signer.Request(
            method: test.method, path: test.path, query: test.query, headers: test.headers, body: test.body)
        if test.name == "post-x-www-form-urlencoded-parameters" {
            // This case's expected files sign the form body's parameters as the query string with an empty
            // payload (a client that sent them in the URL); authgate only signs JSON bodies, so the request is given so.
            request.query = String(decoding: test.body, as: UTF8.self)
            request.body = []
        }
        let signature = signer.sign(request, credentials: suiteCredentials, amzDate: amzDate)
        let creq = try #require(test.expected("creq"))
        switch test.name {
        case "post-x-www-form-urlencoded":
            // Known defect of the suite: its .creq lists `host;x-amz-date` as the signed headers, while its .sts
            // and .authz were made with `content-type;host;x-amz-date`. Checked against the corrected line.
            #expect(
                signature.canonicalRequest
                    == creq.replacingOccurrences(of: "\nhost;x-amz-date\n", with: "\ncontent-type;host;x-amz-date\n"))
        case "double-encode-path", "double-url-encode":
            // Added by the Rust SDK with a date other than their .req's: only the canonical path is comparable.
            let lines = creq.components(separatedBy: "\n")
            #expect(signature.canonicalRequest.components(separatedBy: "\n")[1] == lines[1])
            return
        default:
            #expect(signature.canonicalRequest == creq)
        }
        #expect(signature.stringToSign == test.expected("sts"))
        #expect(signature.authorization == test.expected("authz"))
    }

    @Test func dateFormat() {
        #expect(SigV4Signer.amzDate(secondsSince1970: 1_440_938_160) == "20150830T123600Z")
        #expect(SigV4Signer.amzDate(secondsSince1970: 0) == "19700101T000000Z")
    }
}

/// The Cognito JSON-1.1 vectors, built by our own Cognito request code rather than read from the `.req`.
@Suite struct CognitoSigningTests {
    static let cognitoRoot = TestData.root.appendingPathComponent("sigv4-cognito")

    func signedHeaders(operation: String, body: [UInt8]) -> [(String, String)] {
        let http = ControlPlaneClientForTests.shared
        let client = CognitoClient(
            endpoint: HTTPURL.origin(scheme: .https, host: .name("cognito-idp.us-east-1.amazonaws.com")),
            region: "us-east-1", http: http, credentials: nil)
        return SigV4Signer(region: "us-east-1", service: "cognito-idp").signedHeaders(
            method: "POST", path: client.endpoint.requestPath,
            headers: client.headers(operation: operation), body: body,
            credentials: suiteCredentials, secondsSince1970: 1_440_938_160
        )
    }

    func expectMatches(_ name: String, operation: String, body: [UInt8]) throws {
        let vector = try SigV4Case.load(Self.cognitoRoot.appendingPathComponent(name))
        #expect(body == vector.body, "our request body is byte for byte the vector's")
        let headers = signedHeaders(operation: operation, body: body)
        #expect(headers.first { $0.0 == "Authorization" }?.1 == vector.expected("authz"))
        let signature = SigV4Signer(region: "us-east-1", service: "cognito-idp").sign(
            .init(method: "POST", path: "/", headers: headers.filter { $0.0 != "Authorization" }, body: body),
            credentials: suiteCredentials, amzDate: "20150830T123600Z"
        )
        #expect(signature.canonicalRequest == vector.expected("creq"))
        #expect(signature.stringToSign == vector.expected("sts"))
    }

    @Test func adminInitiateAuth() throws {
        let (operation, body) = CognitoClient.authenticationBody(
            userPoolID: "us-east-1_EXAMPLE", clientID: "1example23456789", username: "alice",
            password: "Example-Passw0rd!",
            secretHash: "R6KaQQpH5HqwB6/eGkjeyvOKUG9Fj8yv1hPn2Nuel8s="
        )
        #expect(operation == "AdminInitiateAuth")
        try expectMatches("cognito-admin-initiate-auth", operation: operation, body: body)
    }

    @Test func adminConfirmSignUp() throws {
        let body = CognitoClient.object([("UserPoolId", "\"us-east-1_EXAMPLE\""), ("Username", "\"alice\"")])
        try expectMatches("cognito-admin-confirm-sign-up", operation: "AdminConfirmSignUp", body: body)
    }

    @Test func temporaryCredentialsSignTheirToken() {
        let temporary = AWSCredentials(
            accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token-value",
            expiration: 2_000_000_000, source: "test"
        )
        let headers = SigV4Signer(region: "us-east-1", service: "cognito-idp").signedHeaders(
            method: "POST", path: "/", headers: [("Host", "cognito-idp.us-east-1.amazonaws.com")], body: [],
            credentials: temporary,
            secondsSince1970: 1_440_938_160
        )
        #expect(headers.contains { $0 == ("X-Amz-Security-Token", "token-value") })
        #expect(headers.last?.1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,") == true)
    }

    @Test func secretHashVectors() throws {
        let data = try Data(contentsOf: Self.cognitoRoot.appendingPathComponent("cognito-secret-hash.json"))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let vectors = root["vectors"] as! [[String: String]]
        #expect(vectors.count == 5)
        for vector in vectors {
            let hash = SecretHash.compute(
                username: vector["username"]!, clientID: vector["client_id"]!, clientSecret: vector["client_secret"]!)
            #expect(hash == vector["secret_hash"], "username \(vector["username"]!)")
        }
    }
}
