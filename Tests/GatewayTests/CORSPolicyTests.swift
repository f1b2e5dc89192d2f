import HTTP1
import Testing

@testable import Gateway

/// A request head as the parser makes it, from its field lines.
private func head(_ fields: [String], method: String = "GET") throws -> RequestHead {
    let text = "\(method) /api/x HTTP/1.1\r\nHost: gw\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n"
    var decoder = RequestDecoder(limits: HTTPLimits())
    let bytes = Array(text.utf8)
    let (event, _) = try bytes.withUnsafeBytes { try decoder.decode($0) }
    guard case .head(let head) = event else { throw PolicyTestFailure("no head in \(text)") }
    return head
}

private struct PolicyTestFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

private func settings(
    _ origins: [String], credentials: Bool = false, methods: [String] = ["GET", "PUT"],
    headers: [String] = ["authorization", "content-type"], exposed: [String] = ["x-request-id"]
) -> CORSSettings {
    CORSSettings(
        allowOrigins: origins, allowMethods: methods, allowHeaders: headers, exposeHeaders: exposed,
        allowCredentials: credentials, maxAge: 600_000_000_000)
}

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The Access-Control-* lines of the answer fields, or nil when the decision is not an answer.
private func answerText(_ decision: CORSDecision) -> String? {
    if case .answer(let fields) = decision { return text(fields.own) }
    return nil
}

private func route(_ prefix: String, cors: Bool) -> RouteSettings {
    RouteSettings(
        prefix: prefix, upstream: .unix(path: "/run/x.sock"), caFile: "", auth: .required, groups: [], scopes: [],
        stripPrefix: false, forwardAuthorization: true, preserveHost: false, cors: cors)
}

@Suite struct CORSPolicyTests {
    let listed = CORSPolicy(settings(["https://app.example.com", "http://localhost:3000"], credentials: true))!
    let wildcard = CORSPolicy(settings(["*"]))!

    /// The Fetch standard serializes the origin a browser sends (lower-case scheme and host, no default port,
    /// no path), so an `Origin` matches only as those exact bytes: anything else is no browser's.
    @Test(arguments: [
        ("https://app.example.com", true), ("http://localhost:3000", true),
        ("https://App.example.com", false), ("HTTPS://app.example.com", false), ("https://app.example.com/", false),
        ("https://app.example.com:443", false), ("http://app.example.com", false),
        ("https://app.example.com.evil.example", false), ("https://evil.app.example.com", false),
        ("https://app.example.co", false), ("http://localhost:30000", false), ("http://localhost", false),
        ("null", false), ("", false), ("*", false),
    ])
    func originsMatchByteForByte(_ origin: String, _ allowed: Bool) throws {
        let decision = listed.decide(try head(["Origin: \(origin)"]), reach: .answersAndPreflights)
        let fields = try #require(answerText(decision))
        if allowed {
            #expect(
                fields
                    == "Access-Control-Allow-Origin: \(origin)\r\nAccess-Control-Expose-Headers: x-request-id\r\n"
                    + "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n")
        } else {
            #expect(fields == "Vary: Origin\r\n", "a disallowed origin gets no Access-Control-* field")
        }
    }

    @Test func upstreamAnswersGetTheAccessControlPartAlone() throws {
        guard case .answer(let fields) = listed.decide(try head(["Origin: http://localhost:3000"]), reach: .answers)
        else {
            Issue.record("not an answer")
            return
        }
        #expect(
            text(fields.accessControl)
                == "Access-Control-Allow-Origin: http://localhost:3000\r\nAccess-Control-Expose-Headers: x-request-id\r\n"
                + "Access-Control-Allow-Credentials: true\r\n",
            "their Vary is merged where the upstream's fields are copied")
        #expect(CORSAnswerFields.varyOnly.accessControl.isEmpty)
    }

    @Test func aRequestWithoutOriginStillVariesOnIt() throws {
        #expect(answerText(listed.decide(try head([]), reach: .answersAndPreflights)) == "Vary: Origin\r\n")
        #expect(answerText(wildcard.decide(try head([]), reach: .answers)) == "Vary: Origin\r\n")
    }

    @Test func twoOriginFieldsNameNoOrigin() throws {
        let twice = try head(["Origin: https://app.example.com", "Origin: https://app.example.com"])
        #expect(answerText(listed.decide(twice, reach: .answers)) == "Vary: Origin\r\n")
        let preflight = try head(
            [
                "Origin: https://app.example.com", "Origin: https://app.example.com",
                "Access-Control-Request-Method: PUT",
            ], method: "OPTIONS")
        guard case .refusedPreflight = listed.decide(preflight, reach: .answersAndPreflights) else {
            Issue.record("two Origin fields must not pass a preflight")
            return
        }
    }

    @Test func thePreflightAnswerIsMadeOnce() throws {
        let request = try head(
            [
                "origin: https://app.example.com", "access-control-request-method: DELETE",
                "Access-Control-Request-Headers: x-anything",
            ], method: "OPTIONS")
        guard case .preflight(let fields) = listed.decide(request, reach: .answersAndPreflights) else {
            Issue.record("not a preflight")
            return
        }
        // The configured lists, whatever the browser asked for: it enforces them itself.
        #expect(
            text(fields)
                == "Access-Control-Allow-Origin: https://app.example.com\r\nAccess-Control-Allow-Methods: GET, PUT\r\n"
                + "Access-Control-Allow-Headers: authorization, content-type\r\nAccess-Control-Max-Age: 600\r\n"
                + "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n")
    }

    @Test func theWildcardAnswersStarAndNeverCredentials() throws {
        let preflight = try head(
            ["Origin: https://any.example", "Access-Control-Request-Method: PUT"], method: "OPTIONS")
        guard case .preflight(let fields) = wildcard.decide(preflight, reach: .answersAndPreflights) else {
            Issue.record("not a preflight")
            return
        }
        #expect(
            text(fields)
                == "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, PUT\r\n"
                + "Access-Control-Allow-Headers: authorization, content-type\r\nAccess-Control-Max-Age: 600\r\n"
                + "Vary: Origin\r\n")
        #expect(
            answerText(wildcard.decide(try head(["Origin: null"]), reach: .answers))
                == "Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: x-request-id\r\nVary: Origin\r\n")
    }

    @Test func emptyListsSendNoField() throws {
        let policy = CORSPolicy(settings(["https://a.example"], methods: [], headers: [], exposed: []))!
        let preflight = try head(
            ["Origin: https://a.example", "Access-Control-Request-Method: GET"], method: "OPTIONS")
        guard case .preflight(let fields) = policy.decide(preflight, reach: .answersAndPreflights) else {
            Issue.record("not a preflight")
            return
        }
        #expect(
            text(fields)
                == "Access-Control-Allow-Origin: https://a.example\r\nAccess-Control-Max-Age: 600\r\nVary: Origin\r\n")
        #expect(
            answerText(policy.decide(try head(["Origin: https://a.example"]), reach: .answers))
                == "Access-Control-Allow-Origin: https://a.example\r\nVary: Origin\r\n")
    }

    /// A preflight is an OPTIONS (methods are case-sensitive) with both fields; anything else is an ordinary
    /// request, which an auth route answers 401 without a token.
    @Test(arguments: [
        ("OPTIONS", ["Origin: https://app.example.com", "Access-Control-Request-Method: PUT"], "preflight"),
        ("OPTIONS", ["Origin: https://evil.example", "Access-Control-Request-Method: PUT"], "refused"),
        ("OPTIONS", ["Origin: https://app.example.com"], "answer"),
        ("OPTIONS", ["Access-Control-Request-Method: PUT"], "answer"),
        ("options", ["Origin: https://app.example.com", "Access-Control-Request-Method: PUT"], "answer"),
        ("GET", ["Origin: https://app.example.com", "Access-Control-Request-Method: PUT"], "answer"),
        ("OPTIONS", ["Origin: https://app.example.com", "Access-Control-Request-Methods: PUT"], "answer"),
    ])
    func preflightsAreOptionsWithOriginAndRequestMethod(_ method: String, _ fields: [String], _ kind: String) throws {
        let decision = listed.decide(try head(fields, method: method), reach: .answersAndPreflights)
        switch decision {
        case .preflight: #expect(kind == "preflight")
        case .refusedPreflight: #expect(kind == "refused")
        case .answer: #expect(kind == "answer")
        case .untouched: Issue.record("untouched")
        }
    }

    @Test func pathsWithoutARouteAnswerNoPreflight() throws {
        let preflight = try head(
            ["Origin: https://app.example.com", "Access-Control-Request-Method: PUT"], method: "OPTIONS")
        #expect(answerText(listed.decide(preflight, reach: .answers))?.hasPrefix("Access-Control-Allow-Origin") == true)
        guard case .untouched = listed.decide(preflight, reach: .none) else {
            Issue.record("a cors = false route must be left alone")
            return
        }
    }

    @Test func theReachIsTheSignInPathsAndTheRoutesThatTakePart() {
        let signIn = ["/signin", "/refresh"]
        #expect(
            CORSReach.of(path: "/signin", route: route("/", cors: false), signInPaths: signIn) == .answersAndPreflights)
        #expect(CORSReach.of(path: "/refresh", route: nil, signInPaths: signIn) == .answersAndPreflights)
        #expect(
            CORSReach.of(path: "/api/x", route: route("/api", cors: true), signInPaths: signIn) == .answersAndPreflights
        )
        #expect(CORSReach.of(path: "/legacy", route: route("/legacy", cors: false), signInPaths: signIn) == .none)
        #expect(CORSReach.of(path: "/nowhere", route: nil, signInPaths: signIn) == .answers)
        #expect(CORSReach.of(path: "/signin", route: nil, signInPaths: []) == .answers, "sign-in disabled")
    }

    @Test(arguments: [
        ("Access-Control-Allow-Origin", true), ("access-control-allow-credentials", true),
        ("ACCESS-CONTROL-MAX-AGE", true), ("Access-Control-Anything", true), ("Vary", true), ("VARY", true),
        ("Access-Control", false), ("X-Access-Control-Allow-Origin", false), ("Varying", false),
        ("Content-Type", false),
    ])
    func theUpstreamsCORSFieldsAreReplaced(_ name: String, _ replaced: Bool) {
        let bytes = Array(name.utf8)
        bytes.withUnsafeBytes { raw in
            #expect(CORSPolicy.replacesUpstreamField(0..<bytes.count, in: raw) == replaced)
        }
    }
}
