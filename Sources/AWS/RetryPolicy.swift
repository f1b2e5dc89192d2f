import HTTPClient

/// When a Cognito call is tried again: the AWS SDKs' "standard" retry mode (botocore's `retries/standard.py`,
/// the SDKs and Tools reference's "Retry behavior"), cut to the caller's deadline. A value with no clock of its
/// own: every decision is a function of what failed, the attempt, the time and the deadline, and the jitter comes
/// from an injected source, so each one can be checked with fixed numbers.
///
/// Not taken from standard mode: its retry quota (a token bucket shared by a client's calls that stops retries
/// in a long outage). Here every retry must also fit before the client's deadline, and the sign-in rate limit
/// bounds what each client can send, which together bound the extra load retries put on Cognito.
package struct RetryPolicy: Sendable {
    /// Attempts per call, the first one included (standard mode: 3).
    package let maxAttempts: Int
    /// The longest back-off before a retry (standard mode: 20 s).
    package let maxBackoff: UInt64
    /// How long one attempt may take (the transfer's timeout).
    package let attemptTimeout: UInt64
    /// Uniform in [0, 1): the full jitter. Values outside are clamped, so a bad source cannot stretch a back-off.
    private let random: @Sendable () -> Double

    private static let second: UInt64 = 1_000_000_000

    package init(
        maxAttempts: Int = 3, maxBackoff: UInt64 = 20 * RetryPolicy.second,
        attemptTimeout: UInt64 = 10 * RetryPolicy.second,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.maxBackoff = maxBackoff
        self.attemptTimeout = attemptTimeout
        self.random = random
    }

    /// The policy of every Cognito call authgate makes.
    package static let standard = RetryPolicy()

    package enum Decision: Sendable, Equatable {
        /// Try again once this many nanoseconds have passed.
        case retry(afterNanoseconds: UInt64)
        case stop(Stop)
    }

    package enum Stop: Sendable, Equatable {
        /// The failure is not one a second attempt can mend (a refusal, a malformed answer, a 501…).
        case notRetryable
        case attemptsSpent
        /// The retry could not run its whole `attemptTimeout` before the deadline.
        case deadline
    }

    /// The first attempt of a call: it always runs while the deadline is ahead, with its timeout cut to the time
    /// left (the flow it belongs to cannot go on without it). Nil once the deadline has passed.
    package func firstAttemptTimeout(now: UInt64, deadline: UInt64) -> UInt64? {
        guard deadline > now else { return nil }
        return min(attemptTimeout, deadline - now)
    }

    /// After attempt number `attempt` (from 1) failed with `error` at `now`. A retry is only started when its
    /// whole `attemptTimeout` fits between the end of its back-off and the deadline: one cut short by the deadline
    /// would leave its outcome unknown (a SignUp that may or may not have happened) and its answer unused.
    package func afterFailure(_ error: CognitoError, attempt: Int, now: UInt64, deadline: UInt64) -> Decision {
        guard Self.isRetryable(error) else { return .stop(.notRetryable) }
        guard attempt < maxAttempts else { return .stop(.attemptsSpent) }
        let delay = backoff(retriesSoFar: attempt - 1)
        let (start, late) = now.addingReportingOverflow(delay)
        let (end, later) = start.addingReportingOverflow(attemptTimeout)
        guard !late, !later, end <= deadline else { return .stop(.deadline) }
        return .retry(afterNanoseconds: delay)
    }

    /// Standard mode's back-off with full jitter: min(b · 2^i, maxBackoff) seconds, b uniform in [0, 1), i the
    /// retries made so far (0 before the first retry: a back-off under a second, then under two…).
    package func backoff(retriesSoFar: Int) -> UInt64 {
        let drawn = random()
        let jitter = drawn.isFinite ? min(max(drawn, 0), 1.0.nextDown) : 0
        let ceiling = Double(Self.second) * Double(sign: .plus, exponent: min(max(retriesSoFar, 0), 64), significand: 1)
        return UInt64(min(jitter * ceiling, Double(maxBackoff)))
    }

    /// What a client is told to wait (Retry-After, whole seconds) once a call gave up on a transient failure:
    /// the ceiling of the back-off the next retry would have had.
    package var retryAfterSeconds: Int {
        let ceiling = min(Double(sign: .plus, exponent: maxAttempts - 1, significand: 1), Double(maxBackoff) / 1e9)
        return max(1, Int(ceiling.rounded(.up)))
    }

    // MARK: What is retried

    /// Standard mode's throttling codes that Cognito sends.
    static let throttlingExceptions: Set<String> = ["TooManyRequestsException", "LimitExceededException"]
    /// Standard mode's transient codes (AWS-wide; Cognito reports its own faults as 5xx).
    static let transientExceptions: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
    ]
    /// Standard mode's transient statuses: not every 5xx (a 501 will not change).
    static let transientStatuses: Set<Int> = [500, 502, 503, 504]

    /// Throttling, a transient exception or status, or a transfer that got no answer at all (refused, reset,
    /// timed out). Not: Cognito's other refusals, malformed or oversized answers, missing AWS credentials.
    package static func isRetryable(_ error: CognitoError) -> Bool {
        if let name = error.exceptionName {
            return throttlingExceptions.contains(name) || transientExceptions.contains(name)
        }
        if let status = error.httpStatus { return transientStatuses.contains(status) }
        if let failure = error.transferFailure { return failure == .transport || failure == .timeout }
        return false
    }

    /// Cognito asked callers to slow down.
    package static func isThrottling(_ error: CognitoError) -> Bool {
        error.exceptionName.map(throttlingExceptions.contains) ?? false
    }
}
