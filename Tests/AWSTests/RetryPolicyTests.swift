import Testing

@testable import AWS
@testable import HTTPClient

private let second: UInt64 = 1_000_000_000
private let throttled = CognitoError(exceptionName: "TooManyRequestsException", message: "Rate exceeded")

/// The AWS SDKs' standard retry mode as `RetryPolicy` has it, with the jitter fixed.
@Suite struct RetryPolicyTests {
    @Test func backoffIsFullJitterUnderTwoToTheRetriesCappedAt20Seconds() {
        let high = RetryPolicy(random: { 1.0.nextDown })
        #expect(high.backoff(retriesSoFar: 0) < second, "the first retry waits under a second")
        #expect(high.backoff(retriesSoFar: 0) > second * 99 / 100)
        #expect(high.backoff(retriesSoFar: 1) < 2 * second && high.backoff(retriesSoFar: 1) > second * 198 / 100)
        #expect(high.backoff(retriesSoFar: 5) == 20 * second, "2^5 s is past MAX_BACKOFF")
        #expect(high.backoff(retriesSoFar: 1000) == 20 * second, "no overflow however many retries")
        let half = RetryPolicy(random: { 0.5 })
        #expect(half.backoff(retriesSoFar: 0) == second / 2)
        #expect(half.backoff(retriesSoFar: 2) == 2 * second)
        #expect(half.backoff(retriesSoFar: 6) == 20 * second, "0.5 · 64 s is still capped")
        #expect(RetryPolicy(random: { 0 }).backoff(retriesSoFar: 3) == 0)
    }

    @Test(arguments: [-1.0, 1.0, 7.5, .infinity, -.infinity, .nan])
    func aRandomSourceOutOfRangeCannotStretchTheBackoff(value: Double) {
        let backoff = RetryPolicy(random: { value }).backoff(retriesSoFar: 1)
        #expect(backoff < 2 * second)
    }

    @Test func threeAttemptsAtMost() {
        let policy = RetryPolicy(random: { 0.5 })
        let deadline = 1000 * second
        #expect(
            policy.afterFailure(throttled, attempt: 1, now: 0, deadline: deadline)
                == .retry(afterNanoseconds: second / 2))
        #expect(
            policy.afterFailure(throttled, attempt: 2, now: 0, deadline: deadline) == .retry(afterNanoseconds: second))
        #expect(policy.afterFailure(throttled, attempt: 3, now: 0, deadline: deadline) == .stop(.attemptsSpent))
        #expect(policy.maxAttempts == 3 && policy.maxBackoff == 20 * second)
    }

    @Test func aRetryMustFitItsWholeAttemptBeforeTheDeadline() {
        // Back-off 0.5 s, then an attempt of up to 10 s: the retry needs 10.5 s before the deadline.
        let policy = RetryPolicy(random: { 0.5 })
        let now = 100 * second
        #expect(
            policy.afterFailure(throttled, attempt: 1, now: now, deadline: now + 10 * second + second / 2)
                == .retry(afterNanoseconds: second / 2))
        #expect(
            policy.afterFailure(throttled, attempt: 1, now: now, deadline: now + 10 * second + second / 2 - 1)
                == .stop(.deadline))
        #expect(policy.afterFailure(throttled, attempt: 1, now: now, deadline: now - 1) == .stop(.deadline))
        #expect(
            policy.afterFailure(throttled, attempt: 1, now: UInt64.max - second, deadline: UInt64.max)
                == .stop(.deadline), "no overflow near the end of the clock")
    }

    @Test func theFirstAttemptRunsWhileTheDeadlineIsAheadCutToIt() {
        let policy = RetryPolicy()
        #expect(policy.firstAttemptTimeout(now: 0, deadline: 30 * second) == 10 * second)
        #expect(policy.firstAttemptTimeout(now: 0, deadline: 3 * second) == 3 * second)
        #expect(policy.firstAttemptTimeout(now: 5, deadline: 5) == nil)
        #expect(policy.firstAttemptTimeout(now: 6, deadline: 5) == nil)
    }

    @Test func retryAfterIsTheCeilingOfTheNextBackoff() {
        #expect(RetryPolicy.standard.retryAfterSeconds == 4, "after three attempts the next back-off is under 2^2 s")
        #expect(RetryPolicy(maxAttempts: 1).retryAfterSeconds == 1)
        #expect(RetryPolicy(maxAttempts: 10).retryAfterSeconds == 20)
    }

    @Test func whatIsRetried() {
        let retried: [CognitoError] = [
            throttled,
            CognitoError(exceptionName: "LimitExceededException", message: ""),
            CognitoError(exceptionName: "RequestTimeoutException", message: ""),
            .serverError(status: 500), .serverError(status: 502), .serverError(status: 503), .serverError(status: 504),
            .noAnswer(ControlError(code: .transport, description: "Couldn't connect to server")),
            .noAnswer(ControlError(code: .timeout, description: "timed out")),
        ]
        let final: [CognitoError] = [
            CognitoError(exceptionName: "NotAuthorizedException", message: ""),
            CognitoError(exceptionName: "UsernameExistsException", message: ""),
            CognitoError(exceptionName: "InternalErrorException", message: "a 4xx with a 5xx's name is still a 4xx"),
            .serverError(status: 501), .serverError(status: 505), .serverError(status: 302),
            .noAnswer(ControlError(code: .responseTooLarge, description: "")),
            .noAnswer(ControlError(code: .invalidRequest, description: "")),
            .malformedAnswer("x"), .noCredentials("x"), .deadlinePassed(),
        ]
        for error in retried { #expect(RetryPolicy.isRetryable(error), "\(error)") }
        for error in final {
            #expect(!RetryPolicy.isRetryable(error), "\(error)")
            #expect(
                RetryPolicy.standard.afterFailure(error, attempt: 1, now: 0, deadline: .max) == .stop(.notRetryable))
        }
        #expect(RetryPolicy.isThrottling(throttled) && !RetryPolicy.isThrottling(.serverError(status: 503)))
    }
}
