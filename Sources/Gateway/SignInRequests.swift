import Encoding

// The request bodies of the sign-in paths, read as hostile: one strict JSON object, each field a non-empty string
// within Cognito's lengths, and a message saying what is wrong otherwise. Extra fields are ignored, as the seed's
// Lambda ignored them.

extension SignInService {
    struct BodyProblem: Error, Equatable {
        let message: String
    }

    /// `POST /signin`'s body.
    struct Credentials: Sendable, Equatable {
        let username: String
        let password: String
    }

    /// `POST /refresh`'s body: `username` is there when SECRET_HASH needs it, or when the caller sent one anyway.
    struct RefreshRequest: Sendable, Equatable {
        let refreshToken: String
        let username: String?
    }

    static let maxUsernameLength = 128
    static let maxPasswordLength = 256
    /// Cognito's refresh tokens are JWEs of about 1,800 characters; this leaves room for them to grow.
    static let maxRefreshTokenLength = 4096

    /// `{"username": "...", "password": "..."}`.
    static func parseCredentials(_ body: [UInt8]) -> Result<Credentials, BodyProblem> {
        BodyFields.parse(body).flatMap { fields in
            fields.string("username", maxLength: maxUsernameLength).flatMap { username in
                fields.string("password", maxLength: maxPasswordLength).map {
                    Credentials(username: username, password: $0)
                }
            }
        }
    }

    /// `{"refresh_token": "...", "username": "..."}`; `username` is required when `needsUsername` (the app client
    /// has a secret), and checked like /signin's whenever it is present.
    static func parseRefresh(_ body: [UInt8], needsUsername: Bool) -> Result<RefreshRequest, BodyProblem> {
        BodyFields.parse(body).flatMap { fields in
            fields.string("refresh_token", maxLength: maxRefreshTokenLength).flatMap { token in
                // A token is base64url text with dots: anything outside visible ASCII is not one, and is refused
                // here rather than sent to Cognito.
                guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                    return .failure(BodyProblem(message: "refresh_token must be printable ASCII without spaces"))
                }
                guard needsUsername || fields.has("username") else {
                    return .success(RefreshRequest(refreshToken: token, username: nil))
                }
                return fields.string("username", maxLength: maxUsernameLength).map {
                    RefreshRequest(refreshToken: token, username: $0)
                }
            }
        }
    }

    /// The members of a body that must be one JSON object.
    private struct BodyFields {
        let object: [String: JSONValue]

        static func parse(_ body: [UInt8]) -> Result<BodyFields, BodyProblem> {
            guard let value = try? StrictJSON.parse(body, maxDepth: 4) else {
                return .failure(BodyProblem(message: "body is not JSON"))
            }
            guard let object = value.object else {
                return .failure(BodyProblem(message: "body must be a JSON object"))
            }
            return .success(BodyFields(object: object))
        }

        func has(_ name: String) -> Bool { object[name] != nil }

        func string(_ name: String, maxLength: Int) -> Result<String, BodyProblem> {
            guard let value = object[name] else { return .failure(BodyProblem(message: "\(name) is missing")) }
            guard let text = value.string else { return .failure(BodyProblem(message: "\(name) must be a string")) }
            guard !text.isEmpty else { return .failure(BodyProblem(message: "\(name) must not be empty")) }
            guard text.count <= maxLength else {
                return .failure(BodyProblem(message: "\(name) is longer than \(maxLength) characters"))
            }
            return .success(text)
        }
    }
}
