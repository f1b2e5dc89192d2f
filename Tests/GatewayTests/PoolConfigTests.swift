import Endpoints
import Testing

@testable import Gateway

private let primary = """
    [cognito]
    region = "eu-west-1"
    user_pool_id = "eu-west-1_Pool1"
    client_ids = ["client1"]
    """

/// `[[cognito.pool]]` and a route's `pools` (SPEC.md "Configuration file").
@Suite struct PoolConfigTests {
    @Test func aSecondPoolGetsItsOwnDefaultsNotThePrimarysValues() throws {
        let config = try parseConfig(
            primary + """

                endpoint_url = "http://127.0.0.1:5000"
                token_use = "any"
                [[cognito.pool]]
                user_pool_id = "us-west-2_Other7"
                client_ids = ["client2", "client3"]
                """)
        let pools = config.cognito.allPools
        #expect(pools.map(\.userPoolID) == ["eu-west-1_Pool1", "us-west-2_Other7"])
        let second = pools[1]
        #expect(second.region == "us-west-2", "the region is the user_pool_id's prefix")
        #expect(second.endpointURL.description == "https://cognito-idp.us-west-2.amazonaws.com", "not inherited")
        #expect(second.issuer == "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Other7")
        #expect(
            second.jwksURL.description
                == "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Other7/.well-known/jwks.json")
        #expect(second.tokenUse == .id, "token_use is not inherited either")
        #expect(second.clientIDs == ["client2", "client3"])
        #expect(pools[0].endpointURL.description == "http://127.0.0.1:5000" && pools[0].tokenUse == .any)
    }

    @Test func aPoolTakesItsOwnIssuerJWKSAndTokenUse() throws {
        let config = try parseConfig(
            primary + """

                [[cognito.pool]]
                user_pool_id = "eu-central-1_Third9"
                client_ids = ["client4"]
                region = "eu-central-1"
                issuer = "https://issuer-cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Third9"
                jwks_url = "http://127.0.0.1:7000/keys.json"
                token_use = "access"
                """)
        let pool = try #require(config.cognito.pools.first)
        #expect(pool.issuer == "https://issuer-cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Third9")
        #expect(pool.jwksURL.description == "http://127.0.0.1:7000/keys.json")
        #expect(pool.tokenUse == .access)
    }

    /// The AWS SDKs' endpoint variables hold for every client of the process, so for every pool; what "not
    /// inherited" keeps out is [cognito]'s own endpoint_url.
    @Test func endpointVariablesApplyToEveryPool() throws {
        let config = try parseConfig(
            primary + """

                [[cognito.pool]]
                user_pool_id = "us-west-2_Other7"
                client_ids = ["client2"]
                """, environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:4566/"])
        #expect(
            config.cognito.allPools.map(\.endpointURL.description)
                == Array(repeating: "http://127.0.0.1:4566", count: 2))
        #expect(
            config.cognito.pools[0].jwksURL.description
                == "http://127.0.0.1:4566/us-west-2_Other7/.well-known/jwks.json")
    }

    @Test func routePoolsAreRead() throws {
        let config = try parseConfig(
            primary + """

                [[cognito.pool]]
                user_pool_id = "us-west-2_Other7"
                client_ids = ["client2"]
                [[route]]
                prefix = "/partners"
                upstream = "http://127.0.0.1:9000"
                pools = ["us-west-2_Other7"]
                [[route]]
                prefix = "/api"
                upstream = "http://127.0.0.1:9000"
                """)
        #expect(config.routes.map(\.pools) == [["us-west-2_Other7"], []])
        #expect(config.routes.map(\.poolIndices) == [[1], []], "the names resolved to the pools' indices")
        #expect(ConfigSummary.lines(config).contains { $0.hasPrefix("pool: us-west-2_Other7 in us-west-2") })
        #expect(
            ConfigSummary.lines(config).contains {
                $0.hasPrefix("route /partners") && $0.hasSuffix("pools=us-west-2_Other7")
            })
    }

    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let text: String
        let problem: String
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "no user_pool_id", text: "[[cognito.pool]]\nclient_ids = [\"c2\"]",
            problem: "cognito.pool[0].user_pool_id: is required"),
        Case(
            name: "no client_ids", text: "[[cognito.pool]]\nuser_pool_id = \"us-west-2_A1\"",
            problem: "cognito.pool[0].client_ids: is required: list the app clients whose tokens are accepted"),
        Case(
            name: "the second entry's problem names it",
            text: """
                [[cognito.pool]]
                user_pool_id = "us-west-2_A1"
                client_ids = ["c2"]
                [[cognito.pool]]
                user_pool_id = "us-west-2_B1"
                client_ids = []
                """,
            problem: "cognito.pool[1].client_ids: is required: list the app clients whose tokens are accepted"),
        Case(
            name: "the primary's user_pool_id again",
            text: "[[cognito.pool]]\nuser_pool_id = \"eu-west-1_Pool1\"\nclient_ids = [\"c2\"]",
            problem: "cognito.pool[0].user_pool_id: \"eu-west-1_Pool1\" is already configured by cognito.user_pool_id"),
        Case(
            name: "another pool's issuer",
            text: """
                [[cognito.pool]]
                user_pool_id = "us-west-2_A1"
                client_ids = ["c2"]
                issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1"
                """,
            problem:
                "cognito.pool[0].issuer: \"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1\" is already "
                + "the issuer of cognito.issuer: it must pick one pool"),
        Case(
            name: "a user_pool_id that does not start with a region",
            text: "[[cognito.pool]]\nuser_pool_id = \"local_A1\"\nclient_ids = [\"c2\"]",
            problem: "cognito.pool[0].region: is required: the user_pool_id \"local_A1\" does not start with a region"),
        Case(
            name: "a region the user_pool_id is not in",
            text: "[[cognito.pool]]\nuser_pool_id = \"us-west-2_A1\"\nclient_ids = [\"c2\"]\nregion = \"us-east-1\"",
            problem:
                "cognito.pool[0].user_pool_id: belongs to region us-west-2, but cognito.pool[0].region is us-east-1"),
        Case(
            name: "not a user pool id",
            text: "[[cognito.pool]]\nuser_pool_id = \"nounderscore\"\nclient_ids = [\"c2\"]",
            problem:
                "cognito.pool[0].user_pool_id: \"nounderscore\" is not a user pool id such as \"us-east-1_AbCdEf123\""),
        Case(
            name: "a global key in a pool",
            text: "[[cognito.pool]]\nuser_pool_id = \"us-west-2_A1\"\nclient_ids = [\"c2\"]\nclock_skew = \"30s\"",
            problem: "cognito.pool[0].clock_skew: applies to every pool: set it in [cognito]"),
        Case(
            name: "an unknown key in a pool",
            text: "[[cognito.pool]]\nuser_pool_id = \"us-west-2_A1\"\nclient_ids = [\"c2\"]\nclient_id = \"c2\"",
            problem: "cognito.pool[0].client_id: unknown key"),
        Case(
            name: "a route naming an unknown pool",
            text: "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:9\"\npools = [\"us-west-2_Nope1\"]",
            problem:
                "route[0].pools: \"us-west-2_Nope1\" is not a configured user pool (cognito.user_pool_id or a "
                + "[[cognito.pool]])"),
        Case(
            name: "a route without auth naming pools",
            text:
                "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"none\"\npools = [\"eu-west-1_Pool1\"]",
            problem: "route[0].pools: cannot apply: auth is \"none\"; remove pools or require auth"),
        Case(
            name: "a route naming a pool twice",
            text:
                "[[route]]\nprefix = \"/a\"\nupstream = \"http://127.0.0.1:9\"\npools = [\"eu-west-1_Pool1\", \"eu-west-1_Pool1\"]",
            problem: "route[0].pools: lists a pool twice"),
        Case(
            name: "pool as a plain table", text: "[cognito.pool]\nuser_pool_id = \"us-west-2_A1\"",
            problem: "cognito.pool: expected an array of tables ([[cognito.pool]]), found table"),
    ]

    @Test(arguments: cases)
    func problemNamesItsKey(_ testCase: Case) {
        let found = configProblems(primary + "\n" + testCase.text).map { "\($0.key): \($0.message)" }
        #expect(found == [testCase.problem])
    }

    @Test func poolProblemsNameTheirLine() throws {
        let text =
            primary + "\n[[cognito.pool]]\nuser_pool_id = \"us-west-2_A1\"\nclient_ids = [\"c2\"]\n"
            + "[[cognito.pool]]\nuser_pool_id = \"us-west-2_B1\"\nclient_ids = [\"c 3\"]\n"
        do {
            _ = try parseConfig(text)
            Issue.record("accepted")
        } catch {
            #expect(error.problems.map(\.key) == ["cognito.pool[1].client_ids"])
            #expect(error.problems.first?.line == 10)
        }
    }
}
