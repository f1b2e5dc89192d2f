/// The life of the link to Redis as a value: each event returns what the store must do, and every state is
/// named. Without sockets, so that the back-off and the order of the steps are tested as they are.
///
/// connect → (both connections open, AUTH/SELECT/SUBSCRIBE answered) → sync (write back what Redis lacks, then
/// load what the others wrote) → up. Any failure on the way or once up: close both connections, wait the back-off,
/// connect again. The back-off doubles from `firstRetry` to at most `maxRetry` (SPEC.md: at most 5 s between
/// tries) and starts again from the first once the link was up.
package struct ClusterLink: Sendable, Equatable {
    package enum State: Sendable, Equatable {
        case idle
        /// Attempt `attempt` (0 the first) is connecting.
        case connecting(attempt: Int)
        /// Connected; writing back and loading revocations.
        case syncing
        case up
        /// Waiting to try again; `attempt` is the next try's number.
        case waiting(attempt: Int)
        case stopped
    }

    package enum Action: Sendable, Equatable {
        case connect
        case sync
        /// The link is usable: report the cluster as "ok".
        case reportUp
        /// Close both connections, report "degraded", and deliver `retryDue` after `nanoseconds`.
        case closeAndRetry(afterNanoseconds: UInt64)
        case close
        case none
    }

    package static let firstRetry: UInt64 = 100_000_000
    package static let maxRetry: UInt64 = 5_000_000_000

    package private(set) var state = State.idle

    package init() {}

    /// Whether limiter and revocation commands go to Redis now (else to the local limiter, and in memory only).
    package var isUp: Bool { state == .up }

    package mutating func start() -> Action {
        guard state == .idle else { return .none }
        state = .connecting(attempt: 0)
        return .connect
    }

    package mutating func connected() -> Action {
        guard case .connecting = state else { return .none }
        state = .syncing
        return .sync
    }

    package mutating func synced() -> Action {
        guard state == .syncing else { return .none }
        state = .up
        return .reportUp
    }

    /// A connection failed, a round-trip passed its budget, or a reply made no sense.
    package mutating func failed() -> Action {
        // `failures` in a row, this one included, since the link was last up (or started).
        let failures: Int
        switch state {
        case .connecting(let attempt): failures = attempt + 1
        case .syncing, .up: failures = 1
        case .idle, .waiting, .stopped: return .none
        }
        state = .waiting(attempt: failures)
        return .closeAndRetry(afterNanoseconds: Self.backoff(attempt: failures - 1))
    }

    package mutating func retryDue() -> Action {
        guard case .waiting(let attempt) = state else { return .none }
        state = .connecting(attempt: attempt)
        return .connect
    }

    package mutating func stop() -> Action {
        guard state != .stopped else { return .none }
        state = .stopped
        return .close
    }

    /// 100 ms, 200 ms, 400 ms … 5 s, then 5 s.
    package static func backoff(attempt: Int) -> UInt64 {
        guard attempt < 16 else { return maxRetry }
        return min(maxRetry, firstRetry << UInt64(attempt))
    }
}
