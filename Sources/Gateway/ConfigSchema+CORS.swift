import Endpoints
import HTTP1
import TOMLKit

/// `[cors]` of SPEC.md: origins written exactly as browsers send them (matching is byte for byte), lists of
/// HTTP tokens, and no combination that browsers would refuse or read otherwise than the operator meant.
extension Schema {
    static let corsDefaultMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    /// Browsers cache a preflight 2 hours (Chromium) to 24 hours (Firefox) at most, whatever they are told.
    static let corsMaxAgeLimit: Nanoseconds = 24 * 3_600_000_000_000

    func readCORS(_ table: TableReader?) -> CORSSettings {
        let table = table ?? TableReader(.init(), path: "cors", problems)
        let origins = table.strings("allow_origins", default: [])
        for problem in Self.originListProblems(origins) { table.fail("allow_origins", problem) }
        let methods = table.strings("allow_methods", default: Self.corsDefaultMethods)
        for problem in Self.methodListProblems(methods) { table.fail("allow_methods", problem) }
        let headers = table.strings("allow_headers", default: ["authorization", "content-type"])
        for problem in Self.fieldNameListProblems(headers) { table.fail("allow_headers", problem) }
        let exposed = table.strings("expose_headers", default: ["x-request-id"])
        for problem in Self.fieldNameListProblems(exposed) { table.fail("expose_headers", problem) }
        let credentials = table.bool("allow_credentials", default: false)
        if credentials && origins == ["*"] {
            table.fail(
                "allow_credentials",
                "cannot be true with allow_origins = [\"*\"]: browsers refuse credentials from a wildcard origin; "
                    + "list the origins")
        }
        if credentials {
            for (key, list) in [("allow_methods", methods), ("allow_headers", headers), ("expose_headers", exposed)]
            where list.contains("*") {
                table.fail(key, "\"*\" is read literally by browsers when allow_credentials is true; list the names")
            }
        }
        let maxAge = table.duration("max_age", default: "10m")
        if maxAge % 1_000_000_000 != 0 {
            table.fail("max_age", "must be whole seconds: Access-Control-Max-Age counts seconds")
        } else if maxAge > Self.corsMaxAgeLimit {
            table.fail("max_age", "must be at most 24h: no browser keeps a preflight longer")
        }
        table.rejectUnknownKeys()
        return CORSSettings(
            allowOrigins: origins, allowMethods: methods, allowHeaders: headers, exposeHeaders: exposed,
            allowCredentials: credentials, maxAge: maxAge)
    }

    static func originListProblems(_ origins: [String]) -> [String] {
        var problems: [String] = []
        if origins.contains("*") && origins.count > 1 {
            problems.append("\"*\" allows every origin and must be the only element")
        }
        var seen: Set<String> = []
        for origin in origins {
            if !seen.insert(origin).inserted { problems.append("\"\(origin)\" is listed twice") }
            if let problem = originProblem(origin) { problems.append(problem) }
        }
        return problems
    }

    /// Why `text` is not an origin as a browser's `Origin` field carries it, or nil. The Fetch standard
    /// serializes an origin as scheme "://" host [":" port]: the URL parser has lowercased the scheme and a DNS
    /// host (and made an international name punycode), and dropped the scheme's default port. Writing the
    /// origin in that one form lets a request's `Origin` be matched byte for byte.
    static func originProblem(_ text: String) -> String? {
        if text == "*" { return nil }
        if text == "null" {
            return "\"null\" is the origin of sandboxed frames and local files, which any page can make: "
                + "it cannot be allowed"
        }
        let url: HTTPURL
        do {
            url = try HTTPURL(text)
        } catch {
            return "\"\(text)\" is not an origin such as \"https://app.example.com\": \(error.description)"
        }
        guard url.path.isEmpty, url.query == nil else {
            return "\"\(text)\" is not an origin: it is scheme://host[:port] only, without a path or a trailing \"/\""
        }
        let serialized = "\(url.scheme.rawValue)://\(url.authority)"
        guard serialized == text else {
            return "\"\(text)\" is not written as browsers send it (lower case, no default port): \"\(serialized)\""
        }
        return nil
    }

    /// The methods the Fetch standard upper-cases before sending: "put" in a list never matches a preflight.
    private static let normalizedMethods: Set<String> = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]

    /// Methods are case-sensitive tokens.
    static func methodListProblems(_ methods: [String]) -> [String] {
        var problems: [String] = []
        var seen: Set<String> = []
        for method in methods {
            if !FieldSyntax.isToken(method) {
                problems.append("\"\(method)\" is not an HTTP method (a token)")
            } else if method != method.uppercased() && normalizedMethods.contains(method.uppercased()) {
                problems.append("\"\(method)\" never matches: browsers send \"\(method.uppercased())\"")
            }
            if !seen.insert(method).inserted { problems.append("\"\(method)\" is listed twice") }
        }
        return problems
    }

    /// Field names are case-insensitive tokens.
    static func fieldNameListProblems(_ names: [String]) -> [String] {
        var problems: [String] = []
        var seen: Set<String> = []
        for name in names {
            if !FieldSyntax.isToken(name) { problems.append("\"\(name)\" is not a header field name (a token)") }
            if !seen.insert(name.lowercased()).inserted { problems.append("\"\(name)\" is listed twice") }
        }
        return problems
    }
}
