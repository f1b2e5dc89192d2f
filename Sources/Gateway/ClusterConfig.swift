package import Endpoints
import Foundation

/// `[cluster]` (SPEC.md "Several instances"): the Redis that several instances share, when `redis_url` is set.
package struct ClusterSettings: Sendable, Equatable {
    package var redisURL: RedisURL
    /// Every key and the revocation channel start with it.
    package var keyPrefix: String
    package var passwordFile: String
}

extension Schema {
    /// nil without a `[cluster]` table or with `redis_url = ""`: the shared state stays in the process.
    func readCluster(_ table: TableReader?) -> ClusterSettings? {
        guard let table else { return nil }
        let text = table.string("redis_url", default: "")
        let prefix = table.string("key_prefix", default: "authgate:")
        let passwordFile = table.string("password_file", default: "")
        table.rejectUnknownKeys()
        if prefix.isEmpty || prefix.utf8.count > 64 || prefix.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            table.fail("key_prefix", "must be 1 to 64 printable ASCII characters without spaces")
        }
        if !passwordFile.isEmpty && !FileManager.default.isReadableFile(atPath: passwordFile) {
            table.fail("password_file", "cannot read \(passwordFile)")
        }
        guard !text.isEmpty else { return nil }
        do {
            return ClusterSettings(redisURL: try RedisURL(text), keyPrefix: prefix, passwordFile: passwordFile)
        } catch {
            let expected = #"expected "redis://HOST:PORT[/DB]", "rediss://…" or "unix:/path""#
            table.fail("redis_url", "\"\(text)\": \(error.description) (\(expected))")
            return nil
        }
    }
}

/// The Redis password, from the sources of SPEC.md "Secrets", first match wins: `cluster.password_file`,
/// `$CREDENTIALS_DIRECTORY/redis_password` (systemd `LoadCredential=`), `$AUTHGATE_REDIS_PASSWORD`. None found:
/// no AUTH is sent. A file's one trailing newline ("\n" or "\r\n") is the editor's and is removed; nothing else is.
enum RedisPassword {
    struct Found {
        let value: String
        /// Where it came from, for the start-up line; never the value.
        let source: String
    }

    struct ReadError: Error, CustomStringConvertible {
        let description: String
    }

    static func read(file: String, environment: [String: String]) throws(ReadError) -> Found? {
        if !file.isEmpty { return try fromFile(file, source: "cluster.password_file") }
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = directory + "/redis_password"
            if FileManager.default.fileExists(atPath: path) {
                return try fromFile(path, source: "systemd credential redis_password")
            }
        }
        if let value = environment["AUTHGATE_REDIS_PASSWORD"], !value.isEmpty {
            return Found(value: value, source: "AUTHGATE_REDIS_PASSWORD")
        }
        return nil
    }

    static func fromFile(_ path: String, source: String) throws(ReadError) -> Found {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReadError(description: "the Redis password file \(path) cannot be read")
        }
        var bytes = [UInt8](data)
        if bytes.last == 0x0A {
            bytes.removeLast()
            if bytes.last == 0x0D { bytes.removeLast() }
        }
        guard !bytes.isEmpty else { throw ReadError(description: "the Redis password file \(path) is empty") }
        return Found(value: String(decoding: bytes, as: UTF8.self), source: source)
    }
}
