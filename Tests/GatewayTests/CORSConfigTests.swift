import Testing

@testable import Gateway

private let minimal = """
    [cognito]
    region = "eu-west-1"
    user_pool_id = "eu-west-1_Pool1"
    client_ids = ["client1"]
    """

private func problems(_ text: String) -> [ConfigProblem] {
    do {
        _ = try ConfigLoader.parse(minimal + "\n" + text, environment: [:])
        return []
    } catch {
        return error.problems
    }
}

/// A `[cors]` (or route) text, the key its problem names, and a piece of the message that tells the fix.
struct BadCORSValue: Sendable, CustomTestStringConvertible {
    let text: String
    let key: String
    let message: String
    var testDescription: String { text }
}

private let origins = "[cors]\nallow_origins = "

@Suite struct CORSConfigTests {
    @Test func withoutACORSTableCORSIsOffWithTheSpecDefaults() throws {
        let config = try ConfigLoader.parse(
            minimal + "\n[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\n", environment: [:])
        #expect(!config.cors.isEnabled)
        #expect(config.cors.allowOrigins.isEmpty)
        #expect(config.cors.allowMethods == ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        #expect(config.cors.allowHeaders == ["authorization", "content-type"])
        #expect(config.cors.exposeHeaders == ["x-request-id"])
        #expect(!config.cors.allowCredentials)
        #expect(config.cors.maxAge == 600_000_000_000)
        #expect(config.routes[0].cors, "a route takes part in CORS unless it says cors = false")
        #expect(CORSPolicy(config.cors) == nil, "no allowed origin: no policy, nothing of an answer changes")
        #expect(ConfigSummary.lines(config).contains("cors: off"))
    }

    @Test func everyKeyIsReadAsWritten() throws {
        let config = try ConfigLoader.parse(
            minimal + """

                [cors]
                allow_origins = ["https://app.example.com", "http://localhost:3000", "http://[::1]:8443"]
                allow_methods = ["GET", "PATCH", "PROPFIND"]
                allow_headers = ["Authorization", "X-Trace"]
                expose_headers = []
                allow_credentials = true
                max_age = "2h"
                [[route]]
                prefix = "/legacy"
                upstream = "http://127.0.0.1:1"
                cors = false
                """, environment: [:])
        #expect(config.cors.allowOrigins == ["https://app.example.com", "http://localhost:3000", "http://[::1]:8443"])
        #expect(config.cors.allowMethods == ["GET", "PATCH", "PROPFIND"])
        #expect(config.cors.allowHeaders == ["Authorization", "X-Trace"])
        #expect(config.cors.exposeHeaders.isEmpty)
        #expect(config.cors.allowCredentials)
        #expect(config.cors.maxAge == 7_200_000_000_000)
        #expect(!config.routes[0].cors)
        let summary = ConfigSummary.lines(config)
        #expect(
            summary.contains("cors: https://app.example.com, http://localhost:3000, http://[::1]:8443 (credentials)"))
        #expect(summary.contains { $0.hasPrefix("route /legacy") && $0.hasSuffix(" cors=false") })
    }

    @Test func theWildcardStandsAlone() throws {
        let config = try ConfigLoader.parse(minimal + "\n[cors]\nallow_origins = [\"*\"]\n", environment: [:])
        #expect(config.cors.allowOrigins == ["*"] && config.cors.isEnabled)
    }

    static let badValues: [BadCORSValue] = [
        // Origins: exactly the serialization browsers send, so that matching can be byte for byte.
        BadCORSValue(text: origins + "[\"https://app.example.com/\"]", key: "cors.allow_origins", message: "path"),
        BadCORSValue(text: origins + "[\"https://app.example.com/x\"]", key: "cors.allow_origins", message: "path"),
        BadCORSValue(text: origins + "[\"https://app.example.com?q\"]", key: "cors.allow_origins", message: "path"),
        BadCORSValue(
            text: origins + "[\"HTTPS://app.example.com\"]", key: "cors.allow_origins",
            message: "\"https://app.example.com\""),
        BadCORSValue(
            text: origins + "[\"https://App.Example.com\"]", key: "cors.allow_origins",
            message: "\"https://app.example.com\""),
        BadCORSValue(
            text: origins + "[\"https://app.example.com:443\"]", key: "cors.allow_origins",
            message: "\"https://app.example.com\""),
        BadCORSValue(
            text: origins + "[\"http://app.example.com:80\"]", key: "cors.allow_origins",
            message: "\"http://app.example.com\""),
        BadCORSValue(text: origins + "[\"ftp://app.example.com\"]", key: "cors.allow_origins", message: "scheme"),
        BadCORSValue(text: origins + "[\"app.example.com\"]", key: "cors.allow_origins", message: "not an origin"),
        BadCORSValue(
            text: origins + "[\"https://*.example.com\"]", key: "cors.allow_origins", message: "not an origin"),
        BadCORSValue(text: origins + "[\"https://u@app.example.com\"]", key: "cors.allow_origins", message: "userinfo"),
        BadCORSValue(text: origins + "[\"null\"]", key: "cors.allow_origins", message: "sandboxed"),
        BadCORSValue(text: origins + "[\"*\", \"https://a.example\"]", key: "cors.allow_origins", message: "only"),
        BadCORSValue(
            text: origins + "[\"https://a.example\", \"https://a.example\"]", key: "cors.allow_origins",
            message: "twice"),
        BadCORSValue(text: origins + "\"https://a.example\"", key: "cors.allow_origins", message: "array"),
        BadCORSValue(text: origins + "[\"\"]", key: "cors.allow_origins", message: "non-empty"),
        // Lists of tokens.
        BadCORSValue(text: "[cors]\nallow_methods = [\"GE T\"]", key: "cors.allow_methods", message: "token"),
        BadCORSValue(text: "[cors]\nallow_methods = [\"GET\", \"GET\"]", key: "cors.allow_methods", message: "twice"),
        BadCORSValue(text: "[cors]\nallow_methods = [\"put\"]", key: "cors.allow_methods", message: "\"PUT\""),
        BadCORSValue(text: "[cors]\nallow_methods = [1]", key: "cors.allow_methods", message: "string"),
        BadCORSValue(text: "[cors]\nallow_headers = [\"x:y\"]", key: "cors.allow_headers", message: "token"),
        BadCORSValue(
            text: "[cors]\nallow_headers = [\"Authorization\", \"authorization\"]", key: "cors.allow_headers",
            message: "twice"),
        BadCORSValue(text: "[cors]\nexpose_headers = [\"x y\"]", key: "cors.expose_headers", message: "token"),
        BadCORSValue(text: "[cors]\nexpose_headers = [\"é\"]", key: "cors.expose_headers", message: "token"),
        // Credentials: never with the wildcard origin, and "*" in a list would mean a literal "*".
        BadCORSValue(
            text: origins + "[\"*\"]\nallow_credentials = true", key: "cors.allow_credentials",
            message: "wildcard"),
        BadCORSValue(
            text: origins + "[\"https://a.example\"]\nallow_credentials = true\nallow_headers = [\"*\"]",
            key: "cors.allow_headers", message: "literally"),
        BadCORSValue(
            text: origins + "[\"https://a.example\"]\nallow_credentials = true\nexpose_headers = [\"*\"]",
            key: "cors.expose_headers", message: "literally"),
        BadCORSValue(text: "[cors]\nallow_credentials = \"yes\"", key: "cors.allow_credentials", message: "true or"),
        // max_age: whole seconds, at most what a browser keeps.
        BadCORSValue(text: "[cors]\nmax_age = \"1500ms\"", key: "cors.max_age", message: "whole seconds"),
        BadCORSValue(text: "[cors]\nmax_age = \"25h\"", key: "cors.max_age", message: "24h"),
        BadCORSValue(text: "[cors]\nmax_age = 600", key: "cors.max_age", message: "duration"),
        BadCORSValue(text: "[cors]\nallowed_origins = []", key: "cors.allowed_origins", message: "unknown key"),
        BadCORSValue(
            text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:1\"\ncors = \"no\"", key: "route[0].cors",
            message: "true or false"),
    ]

    @Test(arguments: badValues)
    func badValuesNameTheirKey(_ bad: BadCORSValue) {
        let found = problems(bad.text)
        #expect(found.contains { $0.key == bad.key && $0.message.contains(bad.message) }, "\(found)")
        #expect(found.allSatisfy { $0.key == bad.key }, "only the key at fault is named: \(found)")
    }

    @Test func aProblemNamesItsLine() {
        let found = problems("[cors]\nmax_age = \"10m\"\nallow_origins = [\"https://a.example/\"]\n")
        let problem = found.first { $0.key == "cors.allow_origins" }
        #expect(problem?.line == 7, "\(found)")
        #expect(problem?.description.hasSuffix("(line 7)") == true)
    }

    @Test(arguments: [
        "https://app.example.com", "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:3000",
        "https://xn--bcher-kva.example", "https://a-b.c_d.example:65535",
    ])
    func originsAsBrowsersSendThemAreAccepted(_ origin: String) {
        #expect(Schema.originProblem(origin) == nil)
    }
}
