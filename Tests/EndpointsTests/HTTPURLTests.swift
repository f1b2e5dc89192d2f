import Endpoints
import Testing

/// A URL the parser accepts and the fields it must read from it.
struct GoodURL: CustomStringConvertible, Sendable {
    let text: String
    let scheme: HTTPURL.Scheme
    let host: String
    let port: UInt16
    let path: String
    var query: String? = nil
    /// What the Host field of a request to it says.
    let authority: String
    /// What curl is given; `text` when nil.
    var normalized: String? = nil
    var description: String { text }
}

/// A URL the parser refuses, and why.
struct BadURL: CustomStringConvertible, Sendable {
    let text: String
    let reason: EndpointParseError.Reason
    var description: String { text.debugDescription }
}

@Suite struct HTTPURLTests {
    static let good: [GoodURL] = [
        GoodURL(
            text: "https://cognito-idp.us-east-1.amazonaws.com", scheme: .https,
            host: "cognito-idp.us-east-1.amazonaws.com", port: 443, path: "",
            authority: "cognito-idp.us-east-1.amazonaws.com"),
        GoodURL(
            text: "http://127.0.0.1:5000/", scheme: .http, host: "127.0.0.1", port: 5000, path: "/",
            authority: "127.0.0.1:5000"),
        GoodURL(
            text: "http://[::1]:7000/base", scheme: .http, host: "::1", port: 7000, path: "/base",
            authority: "[::1]:7000"),
        GoodURL(
            text: "http://[0:0:0:0:0:0:0:1]:80/x", scheme: .http, host: "::1", port: 80, path: "/x",
            authority: "[::1]", normalized: "http://[::1]/x"),
        GoodURL(
            text: "HTTPS://Svc.Internal:443/v1", scheme: .https, host: "svc.internal", port: 443, path: "/v1",
            authority: "svc.internal", normalized: "https://svc.internal/v1"),
        GoodURL(
            text: "http://169.254.170.2/v2/credentials?id=1&x=%2F", scheme: .http, host: "169.254.170.2", port: 80,
            path: "/v2/credentials", query: "id=1&x=%2F", authority: "169.254.170.2"),
        GoodURL(
            text: "http://my_service-1.local:65535/a%20b/c:d@e;f=g", scheme: .http, host: "my_service-1.local",
            port: 65535, path: "/a%20b/c:d@e;f=g", authority: "my_service-1.local:65535"),
        GoodURL(
            text: "http://h/?", scheme: .http, host: "h", port: 80, path: "/", query: "", authority: "h"),
        GoodURL(
            text: "http://[::ffff:127.0.0.1]:8080", scheme: .http, host: "::ffff:127.0.0.1", port: 8080, path: "",
            authority: "[::ffff:127.0.0.1]:8080"),
        GoodURL(
            text: "http://a//b", scheme: .http, host: "a", port: 80, path: "//b", authority: "a"),
    ]

    @Test(arguments: good)
    func acceptsAndReadsItsParts(_ url: GoodURL) throws {
        let parsed = try HTTPURL(url.text)
        #expect(parsed.scheme == url.scheme)
        #expect(parsed.host.description == url.host)
        #expect(parsed.port == url.port)
        #expect(parsed.path == url.path)
        #expect(parsed.query == url.query)
        #expect(parsed.authority == url.authority)
        #expect(parsed.description == (url.normalized ?? url.text))
        #expect(try HTTPURL(parsed.description) == parsed, "the text given to curl reads back the same")
    }

    static let bad: [BadURL] = [
        BadURL(text: "", reason: .characters),
        BadURL(text: "http://a b/", reason: .characters),
        BadURL(text: "http://a/b c", reason: .characters),
        BadURL(text: " http://a/", reason: .characters),
        BadURL(text: "http://a/\u{0}", reason: .characters),
        BadURL(text: "http://a/\n", reason: .characters),
        BadURL(text: "http://a/\u{7F}", reason: .characters),
        BadURL(text: "http://a/é", reason: .characters),
        BadURL(text: "localhost:5000", reason: .scheme),
        BadURL(text: "ftp://a/", reason: .scheme),
        BadURL(text: "file:///etc/passwd", reason: .scheme),
        BadURL(text: "://a", reason: .scheme),
        BadURL(text: "1http://a", reason: .scheme),
        BadURL(text: "http:a", reason: .authority),
        BadURL(text: "http:/a", reason: .authority),
        BadURL(text: "http://user@a/", reason: .userinfo),
        BadURL(text: "http://user:secret@a/", reason: .userinfo),
        BadURL(text: "http://127.0.0.1:80@evil.example/", reason: .userinfo),
        BadURL(text: "http://a/#x", reason: .fragment),
        BadURL(text: "http://a#@b/", reason: .fragment),
        BadURL(text: "http:///x", reason: .host),
        BadURL(text: "http://:80/", reason: .host),
        BadURL(text: "http://-a/", reason: .host),
        BadURL(text: "http://a-/", reason: .host),
        BadURL(text: "http://a..b/", reason: .host),
        BadURL(text: "http://a./", reason: .host),
        BadURL(text: "http://a%2eb/", reason: .host),
        BadURL(text: "http://a\\b/", reason: .host),
        BadURL(text: "http://a\\@b/", reason: .userinfo),
        BadURL(text: "http://" + String(repeating: "a", count: 64) + "/", reason: .host),
        BadURL(text: "http://" + String(repeating: "a.", count: 127) + "aa/", reason: .host),
        BadURL(text: "http://10.1/", reason: .host),
        BadURL(text: "http://1.2.3.256/", reason: .host),
        BadURL(text: "http://010.0.0.1/", reason: .host),
        BadURL(text: "http://0x7f.0.0.1/", reason: .host),
        BadURL(text: "http://a.0x1f/", reason: .host),
        BadURL(text: "http://[::1/", reason: .authority),
        BadURL(text: "http://[::1]x/", reason: .authority),
        BadURL(text: "http://[]/", reason: .host),
        BadURL(text: "http://[:::]/", reason: .host),
        BadURL(text: "http://[1:2]/", reason: .host),
        BadURL(text: "http://[1::2::3]/", reason: .host),
        BadURL(text: "http://[12345::1]/", reason: .host),
        BadURL(text: "http://[::1%25eth0]/", reason: .host),
        BadURL(text: "http://[v1.x]/", reason: .host),
        BadURL(text: "http://[127.0.0.1]/", reason: .host),
        BadURL(text: "http://::1/", reason: .host),
        BadURL(text: "http://a:/", reason: .port),
        BadURL(text: "http://a:0/", reason: .port),
        BadURL(text: "http://a:65536/", reason: .port),
        BadURL(text: "http://a:100000/", reason: .port),
        BadURL(text: "http://a:-1/", reason: .port),
        BadURL(text: "http://a:8o/", reason: .port),
        BadURL(text: "http://a:80:80/", reason: .port),
        BadURL(text: "http://a/%", reason: .path),
        BadURL(text: "http://a/%4", reason: .path),
        BadURL(text: "http://a/%zz", reason: .path),
        BadURL(text: "http://a/[x]", reason: .path),
        BadURL(text: "http://a/x\"y", reason: .path),
        BadURL(text: "http://a/b/../c", reason: .path),
        BadURL(text: "http://a/./c", reason: .path),
        BadURL(text: "http://a/b/..", reason: .path),
        BadURL(text: "http://a/b/%2e%2E/c", reason: .path),
        BadURL(text: "http://a/x?%g0", reason: .query),
        BadURL(text: "http://a/x?a[]=1", reason: .query),
    ]

    @Test(arguments: bad)
    func refusesForItsReason(_ url: BadURL) {
        #expect {
            _ = try HTTPURL(url.text)
        } throws: { error in
            (error as? EndpointParseError)?.reason == url.reason
        }
    }

    @Test func partsAreCheckedAsTheParserChecksThem() throws {
        let endpoint = try HTTPURL(scheme: .http, host: .ipv4(IPv4Address(127, 0, 0, 1)), port: 5000)
        #expect(endpoint.description == "http://127.0.0.1:5000")
        #expect(endpoint.requestPath == "/")
        let jwks = try endpoint.appendingPath("/us-east-1_X/.well-known/jwks.json")
        #expect(jwks.description == "http://127.0.0.1:5000/us-east-1_X/.well-known/jwks.json")
        #expect(throws: EndpointParseError.self) { try endpoint.appendingPath("/a b") }
        #expect(throws: EndpointParseError.self) { try endpoint.appendingPath("x") }
        #expect(throws: EndpointParseError.self) { try HTTPURL(scheme: .https, host: .name("a"), port: 0) }
        #expect(try HTTPURL("http://a:1/b//").withoutTrailingSlashes().description == "http://a:1/b")
        #expect(try HTTPURL("http://a:1/").withoutTrailingSlashes().description == "http://a:1")
    }

    @Test func messagesSayWhatIsWrong() {
        func message(_ text: String) -> String {
            do {
                _ = try HTTPURL(text)
                return ""
            } catch {
                return error.description
            }
        }
        #expect(message("ftp://a") == "the scheme \"ftp\" is not \"http://\" or \"https://\"")
        #expect(message("http://u:p@a") == "userinfo (user:password@) is not allowed in a URL")
        #expect(message("http://a:99999") == "the port \"99999\" is not a number from 1 to 65535")
        #expect(message("http://a/%zz").contains("two hex digits"))
        #expect(message("http://a/x/../y").contains("dot segments"))
    }
}
