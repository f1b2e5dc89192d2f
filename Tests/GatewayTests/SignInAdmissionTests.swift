import Testing

@testable import Gateway

/// The limiter's answer and the body's, in either order (with [cluster] the limiter asks Redis): one decision,
/// and the limiter's refusal first whatever the body did.
struct SignInAdmissionTests {
    final class Decisions {
        var made: [String] = []
    }

    func admission(_ decisions: Decisions) -> SignInAdmission {
        SignInAdmission { decision in
            switch decision {
            case .rateLimited(let seconds): decisions.made.append("429 \(seconds)")
            case .bodyTooLarge: decisions.made.append("413")
            case .body(let bytes): decisions.made.append("body \(bytes.count)")
            }
        }
    }

    @Test func theBodyWaitsForTheLimiter() {
        let decisions = Decisions()
        let pending = admission(decisions)
        pending.bodyEnded(.complete([1, 2, 3]))
        #expect(decisions.made.isEmpty && !pending.isDecided)
        pending.limiterAnswered(nil)
        #expect(decisions.made == ["body 3"] && pending.isDecided)
    }

    @Test func theLimiterMayAllowBeforeTheBodyIsIn() {
        let decisions = Decisions()
        let pending = admission(decisions)
        pending.limiterAnswered(nil)
        #expect(decisions.made.isEmpty)
        pending.bodyEnded(.tooLarge)
        #expect(decisions.made == ["413"])
    }

    @Test func aRefusalIsAnsweredAtOnceAndOnlyOnce() {
        let decisions = Decisions()
        let pending = admission(decisions)
        pending.limiterAnswered(6)
        #expect(decisions.made == ["429 6"] && pending.isDecided)
        pending.bodyEnded(.complete([]))
        pending.limiterAnswered(nil)
        #expect(decisions.made == ["429 6"])
    }

    @Test func aRefusalAfterTheBodyStillWins() {
        let decisions = Decisions()
        let pending = admission(decisions)
        pending.bodyEnded(.tooLarge)
        pending.limiterAnswered(2)
        #expect(decisions.made == ["429 2"])
    }
}
