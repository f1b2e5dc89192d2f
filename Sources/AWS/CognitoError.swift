import Foundation
package import HTTPClient

/// Why a Cognito call gave no answer to act on: Cognito refused it (one of the exceptions callers tell apart,
/// or another one), or there was no usable answer at all. Callers branch on `code`; a new code does not break
/// them, since `Code` is a struct and every switch over it has a `default`. What the transfer saw (the status, or
/// why there was no answer) is kept beside the code: `RetryPolicy` reads it to tell a transient failure.
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
        /// No answer (refused, reset, timed out, too large: `transferFailure` says which) or a 5xx (`httpStatus`).
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
    /// The status of a 5xx answer; nil for the rest (an exception's status plays no part: its name says all).
    package let httpStatus: Int?
    /// Why the transfer brought no answer; nil when there was one.
    package let transferFailure: ControlError.Code?
    /// How many attempts the call made before it gave up with this error (see `RetryPolicy`).
    package internal(set) var attempts = 1

    /// A refusal from Cognito: `name` is its `__type` without the namespace.
    package init(exceptionName name: String, message: String) {
        code = Code(exceptionName: name)
        exceptionName = name
        self.message = message
        httpStatus = nil
        transferFailure = nil
    }

    private init(_ code: Code, _ message: String, status: Int? = nil, transferFailure: ControlError.Code? = nil) {
        self.code = code
        exceptionName = nil
        self.message = message
        httpStatus = status
        self.transferFailure = transferFailure
    }

    /// A 5xx answer.
    package static func serverError(status: Int) -> CognitoError {
        CognitoError(.unavailable, "status \(status)", status: status)
    }
    /// A transfer that ended without an answer.
    package static func noAnswer(_ failure: ControlError) -> CognitoError {
        CognitoError(.unavailable, failure.description, transferFailure: failure.code)
    }
    /// No attempt could be made: the caller's deadline had passed.
    package static func deadlinePassed() -> CognitoError {
        CognitoError(.unavailable, "the caller's deadline passed before the call")
    }
    package static func malformedAnswer(_ reason: String) -> CognitoError { CognitoError(.malformedAnswer, reason) }
    package static func noCredentials(_ reason: String) -> CognitoError { CognitoError(.noCredentials, reason) }

    /// A log line's worth: the exception and Cognito's message, or why there was no answer; then the attempts.
    package var description: String {
        let tries = attempts > 1 ? " (after \(attempts) attempts)" : ""
        if let exceptionName { return "\(exceptionName): \(message)\(tries)" }
        switch code {
        case .noCredentials: return "no AWS credentials: \(message)\(tries)"
        default: return "Cognito unavailable: \(message)\(tries)"
        }
    }

    /// What failed, without any message: an exception's name, "status 503", "timeout"… (for a retry's log line).
    package var kind: String {
        exceptionName ?? httpStatus.map { "status \($0)" } ?? transferFailure?.description ?? code.description
    }

    /// The description with each of `secrets` (a refresh token, a password) cut out: Cognito's messages are not
    /// ours, and some echo what they were sent.
    package func description(hiding secrets: [String]) -> String {
        secrets.filter { !$0.isEmpty }.reduce(description) { $0.replacingOccurrences(of: $1, with: "<hidden>") }
    }
}
