import Endpoints
import Foundation
import HTTPClient

/// STS AssumeRoleWithWebIdentity, as on EKS (SPEC.md "Secrets"): the role `AWS_ROLE_ARN` (or a profile's
/// `role_arn`) for the token in `AWS_WEB_IDENTITY_TOKEN_FILE` (or `web_identity_token_file`), read again at every
/// refresh since the kubelet rotates it. The call is unsigned: the token is the authorization.
struct WebIdentity: Sendable {
    let tokenFile: String
    let roleARN: String
    let sessionName: String
    let endpoint: HTTPURL
    let source: String

    static let maxTokenBytes = 64 << 10
    static let maxAnswerBytes = 64 << 10

    /// From `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`; nil when no token file is named.
    static func fromEnvironment(_ environment: [String: String], now: Int) throws(CredentialError) -> WebIdentity? {
        guard let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !tokenFile.isEmpty else { return nil }
        guard let roleARN = environment["AWS_ROLE_ARN"], !roleARN.isEmpty else {
            throw CredentialError("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
        }
        return try WebIdentity(
            tokenFile: tokenFile, roleARN: roleARN, sessionName: environment["AWS_ROLE_SESSION_NAME"],
            environment: environment, now: now, source: "web identity")
    }

    /// Without a session name, `authgate-<seconds since 1970>`, as the SDKs make one from the time.
    init(
        tokenFile: String, roleARN: String, sessionName: String?, environment: [String: String], now: Int,
        source: String
    ) throws(CredentialError) {
        self.tokenFile = tokenFile
        self.roleARN = roleARN
        self.sessionName = sessionName.flatMap { $0.isEmpty ? nil : $0 } ?? "authgate-\(now)"
        self.endpoint = try Self.endpoint(environment)
        self.source = source
    }

    /// `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL` (the SDKs' service endpoint variables), else the regional
    /// endpoint of `AWS_REGION` or `AWS_DEFAULT_REGION`, else the global one.
    static func endpoint(_ environment: [String: String]) throws(CredentialError) -> HTTPURL {
        for variable in ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"] {
            guard let text = environment[variable], !text.isEmpty else { continue }
            let url: HTTPURL
            do {
                url = try HTTPURL(text)
            } catch {
                throw CredentialError("\(variable): \(error.description)")
            }
            guard url.query == nil else { throw CredentialError("\(variable): a query (?…) is not allowed here") }
            return url
        }
        let region = environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["AWS_DEFAULT_REGION"]
        guard let region, !region.isEmpty else { return stsURL("sts.amazonaws.com") }
        // The region becomes part of a host name: letters, digits and hyphens only.
        guard region.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || STSAnswer.isASCIIAlphanumeric($0) }) else {
            throw CredentialError("the region \(region) is not a region name")
        }
        return stsURL("sts.\(region).amazonaws.com" + (region.hasPrefix("cn-") ? ".cn" : ""))
    }

    private static func stsURL(_ host: String) -> HTTPURL {
        HTTPURL.origin(scheme: .https, host: .name(host.lowercased()))
    }

    /// The query-API POST, with the token as it is in the file now.
    func request() throws(CredentialError) -> ControlRequest {
        let bytes: [UInt8]
        switch BoundedFile.read(tokenFile, limit: Self.maxTokenBytes) {
        case .success(let contents?): bytes = contents
        case .success(nil): throw CredentialError("the web identity token file \(tokenFile) does not exist")
        case .failure(let error): throw CredentialError("the web identity token file: \(error.description)")
        }
        let token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw CredentialError("the web identity token file \(tokenFile) is empty") }
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ].map { "\($0.0)=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
        return ControlRequest(
            method: "POST", url: endpoint.description,
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Accept", "text/xml")],
            body: Array(form.utf8), timeoutMilliseconds: 5000, maxResponseBytes: Self.maxAnswerBytes)
    }

    /// The Credentials of an AssumeRoleWithWebIdentityResponse, or the Code of an ErrorResponse.
    func parseAnswer(status: Int, body: [UInt8]) -> Result<AWSCredentials, CredentialError> {
        let text = String(decoding: body, as: UTF8.self)
        guard status == 200 else {
            let code = STSAnswer.text("Code", in: text[...]).flatMap { code in
                code.utf8.allSatisfy { $0 == UInt8(ascii: ".") || STSAnswer.isASCIIAlphanumeric($0) } ? code : nil
            }
            return .failure(
                CredentialError("STS at \(endpoint) answered \(status)" + (code.map { " \($0)" } ?? "")))
        }
        guard let block = STSAnswer.element("Credentials", in: text[...]),
            let keyID = STSAnswer.text("AccessKeyId", in: block),
            let secret = STSAnswer.text("SecretAccessKey", in: block),
            let token = STSAnswer.text("SessionToken", in: block),
            let expirationText = STSAnswer.text("Expiration", in: block),
            !keyID.isEmpty, !secret.isEmpty, !token.isEmpty
        else {
            return .failure(CredentialError("STS at \(endpoint) answered without complete Credentials"))
        }
        guard let expiration = RFC3339Timestamp.unixSeconds(expirationText) else {
            return .failure(CredentialError("STS at \(endpoint) answered an unreadable Expiration"))
        }
        return .success(
            AWSCredentials(
                accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: expiration,
                source: source))
    }
}

/// Just enough XML for STS's answers, strictly: an element must occur exactly once, hold no markup and no
/// entity but the five predefined ones, so that a document built to confuse a parser is refused, not guessed at.
enum STSAnswer {
    /// The content of the one `<name>` element of `text`, as it is; nil when there is none or more than one, or
    /// when it holds a comment, a CDATA section or a declaration.
    static func element(_ name: String, in text: Substring) -> Substring? {
        let open = "<\(name)>"
        let close = "</\(name)>"
        guard let start = text.range(of: open), text[start.upperBound...].range(of: open) == nil,
            let end = text[start.upperBound...].range(of: close)
        else { return nil }
        let content = text[start.upperBound..<end.lowerBound]
        return content.contains("<!") ? nil : content
    }

    /// The text of the one `<name>` element: no markup in it, entities decoded.
    static func text(_ name: String, in text: Substring) -> String? {
        guard let content = element(name, in: text), !content.contains("<") else { return nil }
        var out = ""
        var rest = content
        while let ampersand = rest.firstIndex(of: "&") {
            out += rest[..<ampersand]
            guard let semicolon = rest[ampersand...].firstIndex(of: ";") else { return nil }
            switch rest[rest.index(after: ampersand)..<semicolon] {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default: return nil
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        out += rest
        return out
    }

    static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
