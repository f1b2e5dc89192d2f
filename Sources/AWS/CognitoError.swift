/// Why a Cognito call gave no answer to act on: Cognito refused it (one of the exceptions callers tell apart,
/// or another one), or there was no usable answer at all. Callers branch on `code`; a new code does not break
/// them, since `Code` is a struct and every switch over it has a `default`.
package struct CognitoError: Error, Sendable, Equatable, CustomStringConvertible {
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            // Cognito's exceptions, named as in its `__type`.
            case usernameExists = "UsernameExistsException"
            case notAuthorized = "NotAuthorizedException"
            case userNotFound = "UserNotFoundException"
            case userNotConfirmed = "UserNotConfirmedException"
            case invalidPassword = "InvalidPasswordException"
            case invalidParameter = "InvalidParameterException"
            case userLambdaValidation = "UserLambdaValidationException"
            case tooManyRequests = "TooManyRequestsException"
            case limitExceeded = "LimitExceededException"
            case passwordResetRequired = "PasswordResetRequiredException"
            // Not exceptions of Cognito's: what this client saw instead of an answer.
            case otherException
            case unavailable
            case malformedAnswer
            case noCredentials

            var isCognitoException: Bool {
                switch self {
                case .otherException, .unavailable, .malformedAnswer, .noCredentials: return false
                default: return true
                }
            }
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The code of a Cognito exception name (without its namespace); `otherException` for one not named here.
        init(exceptionName: String) {
            switch Base(rawValue: exceptionName) {
            case .some(let base) where base.isCognitoException: self.init(base)
            default: self.init(.otherException)
            }
        }

        package static let usernameExists = Code(.usernameExists)
        package static let notAuthorized = Code(.notAuthorized)
        package static let userNotFound = Code(.userNotFound)
        package static let userNotConfirmed = Code(.userNotConfirmed)
        package static let invalidPassword = Code(.invalidPassword)
        package static let invalidParameter = Code(.invalidParameter)
        package static let userLambdaValidation = Code(.userLambdaValidation)
        package static let tooManyRequests = Code(.tooManyRequests)
        package static let limitExceeded = Code(.limitExceeded)
        package static let passwordResetRequired = Code(.passwordResetRequired)
        /// Cognito refused the call with an exception not named above (its name is in `exceptionName`).
        package static let otherException = Code(.otherException)
        /// No answer (refused, reset, timed out, too large) or a 5xx.
        package static let unavailable = Code(.unavailable)
        /// An answer that is not Cognito's JSON, or lacks what the operation returns.
        package static let malformedAnswer = Code(.malformedAnswer)
        /// A signed call found no AWS credentials.
        package static let noCredentials = Code(.noCredentials)

        package var description: String { base.rawValue }
    }

    package let code: Code
    /// The exception name Cognito sent, without its namespace; nil when Cognito did not answer with one.
    package let exceptionName: String?
    /// Cognito's own message for an exception (shown to callers for a refused sign-up), else what went wrong.
    package let message: String

    /// A refusal from Cognito: `name` is its `__type` without the namespace.
    package init(exceptionName name: String, message: String) {
        code = Code(exceptionName: name)
        exceptionName = name
        self.message = message
    }

    private init(_ code: Code, _ message: String) {
        self.code = code
        exceptionName = nil
        self.message = message
    }

    package static func unavailable(_ reason: String) -> CognitoError { CognitoError(.unavailable, reason) }
    package static func malformedAnswer(_ reason: String) -> CognitoError { CognitoError(.malformedAnswer, reason) }
    package static func noCredentials(_ reason: String) -> CognitoError { CognitoError(.noCredentials, reason) }

    /// A log line's worth: the exception and Cognito's message, or why there was no answer.
    package var description: String {
        if let exceptionName { return "\(exceptionName): \(message)" }
        switch code {
        case .noCredentials: return "no AWS credentials: \(message)"
        default: return "Cognito unavailable: \(message)"
        }
    }
}
