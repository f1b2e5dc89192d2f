@testable import Gateway

/// The configuration a file holding `text` makes, as the loader reads it.
func parseConfig(_ text: String, environment: [String: String] = [:]) throws(ConfigErrors) -> GatewayConfig {
    try ConfigLoader.parse(text, environment: environment)
}

/// The problems a file holding `text` has, in the loader's order; none when it is valid.
func configProblems(_ text: String, environment: [String: String] = [:]) -> [ConfigProblem] {
    do {
        _ = try parseConfig(text, environment: environment)
        return []
    } catch {
        return error.problems
    }
}
