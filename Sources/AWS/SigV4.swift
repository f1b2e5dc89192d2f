import Cryptography
import Encoding

#if canImport(Glibc)
    import Glibc
#endif

/// AWS Signature Version 4 (header form) for the calls authgate signs: Cognito's Admin* operations.
/// Canonicalization follows the SigV4 rules for every service but S3: the path is normalized and each
/// segment URI-encoded as given (an already encoded path is encoded again).
package struct SigV4Signer: Sendable {
    package let region: String
    package let service: String

    package init(region: String, service: String) {
        self.region = region
        self.service = service
    }

    /// A request as it will be sent: the path and query exactly as on the wire, every header that is signed.
    package struct Request: Sendable {
        package var method: String
        package var path: String
        package var query: String
        package var headers: [(String, String)]
        package var body: [UInt8]

        package init(method: String, path: String, query: String = "", headers: [(String, String)], body: [UInt8]) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
        }
    }

    /// Every step of a signature, so that each can be checked against the test suite.
    package struct Signature: Sendable {
        package let canonicalRequest: String
        package let stringToSign: String
        package let signedHeaders: String
        package let authorization: String
    }

    /// Signs `request`, which must already carry `X-Amz-Date` (and `X-Amz-Security-Token` for temporary credentials).
    package func sign(_ request: Request, credentials: AWSCredentials, amzDate: String) -> Signature {
        let scopeDate = String(amzDate.prefix(8))
        let scope = "\(scopeDate)/\(region)/\(service)/aws4_request"
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(request.headers)
        let canonicalRequest = [
            request.method,
            Self.canonicalPath(request.path),
            Self.canonicalQuery(request.query),
            canonicalHeaders,
            signedHeaders,
            Hex.lowercase(SHA256.hash(request.body)),
        ].joined(separator: "\n")
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, Hex.lowercase(SHA256.hash(Array(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        var key = Array("AWS4\(credentials.secretAccessKey)".utf8)
        for part in [scopeDate, region, service, "aws4_request"] {
            key = HMACSHA256.authenticationCode(key: key, message: Array(part.utf8))
        }
        let signature = Hex.lowercase(HMACSHA256.authenticationCode(key: key, message: Array(stringToSign.utf8)))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signedHeaders: signedHeaders,
            authorization: authorization
        )
    }

    /// The headers to send: `headers` plus X-Amz-Date, X-Amz-Security-Token when the credentials are temporary,
    /// and Authorization. All of them but Authorization are signed.
    package func signedHeaders(
        method: String, path: String, headers: [(String, String)], body: [UInt8], credentials: AWSCredentials,
        secondsSince1970: Int
    ) -> [(String, String)] {
        let amzDate = Self.amzDate(secondsSince1970: secondsSince1970)
        var all = headers
        all.append(("X-Amz-Date", amzDate))
        if let token = credentials.sessionToken { all.append(("X-Amz-Security-Token", token)) }
        let signature = sign(
            Request(method: method, path: path, headers: all, body: body), credentials: credentials, amzDate: amzDate)
        all.append(("Authorization", signature.authorization))
        return all
    }

    /// `20150830T123600Z`.
    package static func amzDate(secondsSince1970: Int) -> String {
        var time = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        return "\(day)T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    // MARK: Canonical forms

    static func canonicalHeaders(_ headers: [(String, String)]) -> (String, String) {
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            values[name.lowercased(), default: []].append(Self.trimmedValue(value))
        }
        let names = values.keys.sorted()
        let lines = names.map { "\($0):\(values[$0]!.joined(separator: ","))\n" }.joined()
        return (lines, names.joined(separator: ";"))
    }

    /// Leading and trailing blanks removed, runs of blanks made one space.
    static func trimmedValue(_ value: String) -> String {
        var out: [UInt8] = []
        var pendingSpace = false
        for byte in value.utf8 {
            if byte == 0x20 || byte == 0x09 {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.append(0x20) }
            pendingSpace = false
            out.append(byte)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Dot-segments removed and repeated slashes merged, then each segment encoded.
    static func canonicalPath(_ path: String) -> String {
        var segments: [Substring] = []
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        for part in parts {
            switch part {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(part)
            }
        }
        var result = "/" + segments.map { URIEncoding.encode(String($0)) }.joined(separator: "/")
        let endsInDirectory = path.hasSuffix("/") || path.hasSuffix("/.") || path.hasSuffix("/..")
        if endsInDirectory && !segments.isEmpty { result += "/" }
        return result
    }

    /// Parameters decoded, re-encoded, and sorted by name then value.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&", omittingEmptySubsequences: true).map { parameter -> (String, String) in
            let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = URIEncoding.encode(URIEncoding.decode(String(parts[0])))
            let value = parts.count > 1 ? URIEncoding.encode(URIEncoding.decode(String(parts[1]))) : ""
            return (name, value)
        }
        return pairs.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { "\($0.0)=\($0.1)" }.joined(
            separator: "&")
    }
}

/// SigV4's URI encoding: everything but `A-Z a-z 0-9 - . _ ~` as %XX, uppercase hex.
enum URIEncoding {
    static func encode(_ text: String) -> String {
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(Hex.uppercaseDigit(byte >> 4))
                out.append(Hex.uppercaseDigit(byte & 0xF))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// %XX sequences decoded; a malformed one is kept as it is.
    static func decode(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = Hex.value(bytes[index + 1]), let low = Hex.value(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
