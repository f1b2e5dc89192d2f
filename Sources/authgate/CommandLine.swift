import ArgumentParser
import Foundation
import Gateway

/// Exit codes of SPEC.md: 0 success, 1 invalid configuration or token, 2 usage error.
enum AuthgateCLI {
    static func main() {
        do {
            var command = try Authgate.parseAsRoot()
            try command.run()
        } catch {
            let code = Authgate.exitCode(for: error)
            if code == .success {
                print(Authgate.fullMessage(for: error))
                exit(0)
            }
            if error is ExitCode { exit(code.rawValue) }
            // Anything ArgumentParser reports is a usage error.
            FileHandle.standardError.write(Data((Authgate.fullMessage(for: error) + "\n").utf8))
            exit(2)
        }
    }
}

struct Authgate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authgate",
        abstract: "An authorizing reverse proxy for Amazon Cognito user pools.",
        version: BuildInfo.summary,
        subcommands: [Serve.self, CheckConfig.self, VerifyToken.self],
        defaultSubcommand: Serve.self
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: $AUTHGATE_CONFIG, then /etc/authgate/authgate.toml).")
    var config: String?

    var path: String {
        if let config { return config }
        if let fromEnvironment = ProcessInfo.processInfo.environment["AUTHGATE_CONFIG"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return "/etc/authgate/authgate.toml"
    }

    /// Loads the configuration or prints one line per problem to stderr and exits 1.
    func load() throws -> GatewayConfig {
        do {
            return try ConfigLoader.load(path: path)
        } catch {
            var message = "\(path): invalid configuration\n"
            for problem in error.problems { message += "\(path): \(problem.description)\n" }
            FileHandle.standardError.write(Data(message.utf8))
            throw ExitCode(1)
        }
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try options.load()
        Daemon(config: config, configPath: options.path).run()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration: exit 0 with a summary, or 1 with one line per problem."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try options.load()
        print(ConfigSummary.lines(config).joined(separator: "\n"))
    }
}

struct VerifyToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-token",
        abstract: "Fetch the JWKS and verify a token: print its claims and exit 0, or the reason and exit 1."
    )

    @OptionGroup var options: ConfigOption

    @Argument(help: "The token (an ID or access token); read from stdin when absent.")
    var token: String?

    func run() throws {
        let config = try options.load()
        var text = token ?? ""
        if token == nil {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        let outcome = TokenCheck.verify(token: text, config: config)
        for warning in outcome.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        if let claims = outcome.claims {
            // stdout stays the claims' JSON alone; which pool accepted the token goes to stderr.
            FileHandle.standardError.write(Data("accepted by pool \(outcome.pool ?? "?")\n".utf8))
            print(String(decoding: claims, as: UTF8.self))
            return
        }
        FileHandle.standardError.write(Data("\(outcome.problem ?? "token rejected")\n".utf8))
        throw ExitCode(1)
    }
}
