import Endpoints
import Testing

@testable import Gateway

private let cognito = """
    [cognito]
    region = "eu-west-1"
    user_pool_id = "eu-west-1_Pool1"
    client_ids = ["client1"]
    """

private func route(upstream: String) -> String {
    cognito + "\n[[route]]\nprefix = \"/a\"\nupstream = \"\(upstream)\"\n"
}

/// URLs and addresses the old text checks let through, each with what went wrong with it.
@Suite struct EndpointConfigTests {
    /// The refused value, its key, and why it must be refused.
    struct Refused: CustomStringConvertible, Sendable {
        let text: String
        let key: String
        let line: Int
        var description: String { "\(key) ← \(text.split(separator: "\n").last ?? "")" }
    }

    static let refused: [Refused] = [
        // getaddrinfo reads "10.1" as 10.0.0.1 and "0x7f.1" as 127.0.0.1: not the host written.
        Refused(text: route(upstream: "http://10.1:9000"), key: "route[0].upstream", line: 7),
        Refused(text: route(upstream: "http://0x7f.1:9000"), key: "route[0].upstream", line: 7),
        // Any hex-and-colon text passed as IPv6; serve then failed at start ("cannot resolve upstream host 1:2").
        Refused(text: route(upstream: "http://[1:2]:9000"), key: "route[0].upstream", line: 7),
        Refused(text: route(upstream: "http://[1::2::3]:9000"), key: "route[0].upstream", line: 7),
        // A control byte in a socket path was taken as is (a NUL never gets here: TOMLKit cuts the string there).
        Refused(text: route(upstream: "unix:/run/a\\nb.sock"), key: "route[0].upstream", line: 7),
        Refused(
            text: "[server]\nlisten = [\"unix:/run/a\\u0001b.sock\"]\n" + cognito, key: "server.listen", line: 2),
        // curl removes dot segments: it would POST to "/" while SigV4 signed "/x/..".
        Refused(
            text: cognito + "\nendpoint_url = \"http://127.0.0.1:5000/x/../\"", key: "cognito.endpoint_url", line: 5),
        Refused(
            text: cognito + "\njwks_url = \"https://keys.example/a/./jwks.json\"", key: "cognito.jwks_url", line: 5),
        Refused(text: cognito + "\nissuer = \"https://issuer.example/#x\"", key: "cognito.issuer", line: 5),
    ]

    @Test(arguments: refused)
    func refusedWithItsKeyAndLine(_ bad: Refused) {
        let found = configProblems(bad.text)
        let problem = found.first { $0.key == bad.key }
        #expect(problem?.line == bad.line, "problems: \(found.map(\.description))")
    }

    @Test func messagesKeepTheirWordsAndSayWhy() {
        let upstream = configProblems(route(upstream: "http://user@127.0.0.1:1")).first {
            $0.key == "route[0].upstream"
        }
        #expect(
            upstream?.message
                == "\"http://user@127.0.0.1:1\" must be \"http://HOST:PORT[/base]\", \"https://HOST[:PORT][/base]\" "
                + "or \"unix:/path\": userinfo (user:password@) is not allowed in a URL")
        let endpoint = configProblems(cognito + "\nendpoint_url = \"http://a/?x=1\"").first {
            $0.key == "cognito.endpoint_url"
        }
        #expect(
            endpoint?.message
                == "\"http://a/?x=1\" is not an http(s) URL without query or credentials: a query (?…) is not allowed here"
        )
        let fromEnvironment = configProblems(cognito, environment: ["AWS_ENDPOINT_URL": "http://a:99999"]).first {
            $0.key == "cognito.endpoint_url (from AWS_ENDPOINT_URL)"
        }
        #expect(fromEnvironment?.message.hasSuffix("the port \"99999\" is not a number from 1 to 65535") == true)
        let listen = configProblems("[server]\nlisten = [\"::1:80\"]\n" + cognito).first { $0.key == "server.listen" }
        #expect(listen?.message == "\"::1:80\": \"::1\" looks like IPv6: write it \"[ADDRESS]:PORT\"")
    }

    @Test func upstreamsKeepTheirHostFieldAndBasePath() throws {
        let config = try ConfigLoader.parse(
            route(upstream: "HTTP://Svc.Example:80/v1/")
                + "\n[[route]]\nprefix = \"/b\"\nupstream = \"https://[::1]:8443\"\n",
            environment: [:])
        #expect(config.routes[0].upstream.hostField == "svc.example")
        #expect(config.routes[0].upstream.basePath == "/v1")
        #expect(config.routes[1].upstream.hostField == "[::1]:8443")
        #expect(config.routes[1].upstream.description == "https://[::1]:8443")
    }

    @Test func percentEncodingIsAllowedInControlPlaneURLsOnly() throws {
        let config = try ConfigLoader.parse(
            cognito + "\njwks_url = \"https://keys.example/pool%201/jwks.json\"", environment: [:])
        #expect(config.cognito.jwksURL.path == "/pool%201/jwks.json")
        // A base path is joined to request paths byte for byte: it stays literal, as route prefixes do.
        #expect(!configProblems(route(upstream: "http://127.0.0.1:1/a%20b")).isEmpty)
    }
}
