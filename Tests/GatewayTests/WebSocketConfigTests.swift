import Testing

@testable import Gateway

/// The route key `websocket` (SPEC.md "Configuration file").
@Suite struct WebSocketConfigTests {
    static func config(_ route: String) -> String {
        """
        [cognito]
        region = "eu-west-1"
        user_pool_id = "eu-west-1_Pool1"
        client_ids = ["client1"]

        [[route]]
        prefix = "/a"
        upstream = "http://127.0.0.1:9000"
        \(route)
        """
    }

    @Test func websocketIsOffUnlessARouteTurnsItOn() throws {
        #expect(try ConfigLoader.parse(Self.config(""), environment: [:]).routes[0].websocket == false)
        let on = try ConfigLoader.parse(Self.config("websocket = true"), environment: [:])
        #expect(on.routes[0].websocket == true)
        #expect(ConfigSummary.lines(on).contains { $0.hasSuffix(" websocket=true") })
    }

    @Test(arguments: [#"websocket = "yes""#, "websockets = true"])
    func aWrongValueOrAMisspelledKeyIsAnError(line: String) {
        #expect(throws: ConfigErrors.self) { try ConfigLoader.parse(Self.config(line), environment: [:]) }
    }
}
