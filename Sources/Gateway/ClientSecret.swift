import Foundation

/// The sign-in app client's secret, from the sources of SPEC.md "Secrets", first match wins:
/// `cognito.client_secret_file`, `$CREDENTIALS_DIRECTORY/client_secret` (systemd `LoadCredential=`),
/// `$AUTHGATE_CLIENT_SECRET`. None found means a public app client: no SECRET_HASH is sent.
enum ClientSecret {
    struct Found {
        let value: String
        /// Where it came from, for the start-up line; never the value.
        let source: String
    }

    struct ReadError: Error, CustomStringConvertible {
        enum Code {
            case unreadable, empty
        }

        let code: Code
        let description: String
    }

    static func read(file: String, environment: [String: String]) throws(ReadError) -> Found? {
        if !file.isEmpty { return try fromFile(file, source: "cognito.client_secret_file") }
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = directory + "/client_secret"
            if FileManager.default.fileExists(atPath: path) {
                return try fromFile(path, source: "systemd credential client_secret")
            }
        }
        if let value = environment["AUTHGATE_CLIENT_SECRET"], !value.isEmpty {
            return Found(value: value, source: "AUTHGATE_CLIENT_SECRET")
        }
        return nil
    }

    private static func fromFile(_ path: String, source: String) throws(ReadError) -> Found {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReadError(code: .unreadable, description: "the client secret file \(path) cannot be read")
        }
        // A trailing newline is the editor's, not the secret's.
        let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else {
            throw ReadError(code: .empty, description: "the client secret file \(path) is empty")
        }
        return Found(value: value, source: source)
    }
}
