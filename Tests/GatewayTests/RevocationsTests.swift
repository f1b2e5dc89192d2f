import Testing

@testable import Gateway

/// The revocation store, with its clock given as values: what is refused, for how long, and what it holds.
@Suite struct RevocationsTests {
    @Test func tokensIssuedInOrBeforeTheRevocationSecondAreRefused() {
        let revocations = Revocations()
        revocations.add(sub: "alice", at: 1000, expiresAt: 2000)
        #expect(revocations.isRevoked(sub: "alice", issuedAt: 999, now: 1001))
        #expect(revocations.isRevoked(sub: "alice", issuedAt: 1000, now: 1001), "the sign-out second itself")
        #expect(revocations.isRevoked(sub: "alice", issuedAt: 1000.999, now: 1001), "iat 1000.999 is in second 1000")
        #expect(!revocations.isRevoked(sub: "alice", issuedAt: 1001, now: 1001), "issued after: a new sign-in")
        #expect(revocations.isRevoked(sub: "alice", issuedAt: nil, now: 1001), "no iat: refused")
        #expect(!revocations.isRevoked(sub: "bob", issuedAt: 999, now: 1001), "another sub")
        #expect(!revocations.isRevoked(sub: "alic", issuedAt: 999, now: 1001))
    }

    @Test func revocationsExpireAndPurgeGivesTheirMemoryBack() {
        let revocations = Revocations()
        revocations.add(sub: "alice", at: 1000, expiresAt: 1300)
        revocations.add(sub: "bob", at: 1100, expiresAt: 1400)
        #expect(revocations.isRevoked(sub: "alice", issuedAt: 900, now: 1299.9))
        // Expired entries are never trusted, purged or not.
        #expect(!revocations.isRevoked(sub: "alice", issuedAt: 900, now: 1300))
        #expect(revocations.count == 2)
        revocations.purge(now: 1300)
        #expect(revocations.count == 1)
        #expect(revocations.snapshot == [Revocations.Entry(sub: "bob", revokedAt: 1100, expiresAt: 1400)])
        revocations.purge(now: 1400)
        #expect(revocations.count == 0 && revocations.snapshot.isEmpty)
        #expect(!revocations.isRevoked(sub: "bob", issuedAt: 900, now: 1400))
    }

    @Test func revokeUsesTheSecondOfNowAndTheTTL() {
        let revocations = Revocations()
        revocations.ttlSeconds = 300
        revocations.revoke(sub: "alice", now: 1000.75)
        #expect(revocations.snapshot == [Revocations.Entry(sub: "alice", revokedAt: 1000, expiresAt: 1300)])
        #expect(revocations.isRevoked(sub: "alice", issuedAt: 1000, now: 1299))
        #expect(!revocations.isRevoked(sub: "alice", issuedAt: 1000, now: 1300))
    }

    @Test func aLaterRevocationOfTheSameSubExtendsIt() {
        let revocations = Revocations()
        revocations.add(sub: "alice", at: 1000, expiresAt: 2000)
        revocations.add(sub: "alice", at: 1500, expiresAt: 2500)
        #expect(revocations.isRevoked(sub: "alice", issuedAt: 1400, now: 2400))
        // An older one arriving late (from a store) neither narrows nor shortens it.
        revocations.add(sub: "alice", at: 900, expiresAt: 1900)
        #expect(revocations.snapshot == [Revocations.Entry(sub: "alice", revokedAt: 1500, expiresAt: 2500)])
        #expect(revocations.count == 1)
    }

    @Test func aFullTableDropsTheEntryClosestToItsExpiry() {
        let revocations = Revocations(maxEntries: 3)
        revocations.add(sub: "a", at: 100, expiresAt: 500)
        revocations.add(sub: "b", at: 100, expiresAt: 300)
        revocations.add(sub: "c", at: 100, expiresAt: 400)
        revocations.add(sub: "d", at: 100, expiresAt: 600)
        #expect(revocations.count == 3)
        #expect(Set(revocations.snapshot.map(\.sub)) == ["a", "c", "d"])
        #expect(!revocations.isRevoked(sub: "b", issuedAt: 50, now: 200))
        #expect(revocations.isRevoked(sub: "d", issuedAt: 50, now: 200))
    }

    @Test func aSnapshotLoadsIntoAnotherStore() {
        let first = Revocations()
        first.add(sub: "alice", at: 1000, expiresAt: 2000)
        first.add(sub: "bob", at: 1100, expiresAt: 2100)
        let second = Revocations()
        second.load(first.snapshot)
        #expect(second.count == 2)
        #expect(second.isRevoked(sub: "alice", issuedAt: 1000, now: 1500))
        #expect(second.isRevoked(sub: "bob", issuedAt: 1100, now: 1500))
    }

    /// With one filter slot every sub shares its counter: the table behind the lock still decides, and a
    /// purge that empties the slot lets others through without it.
    @Test func subsSharingAFilterSlotAreToldApart() {
        let revocations = Revocations(filterSlots: 1)
        revocations.add(sub: "alice", at: 1000, expiresAt: 2000)
        #expect(!revocations.isRevoked(sub: "bob", issuedAt: 900, now: 1500))
        #expect(revocations.isRevoked(sub: "alice", issuedAt: 900, now: 1500))
        revocations.add(sub: "carol", at: 1000, expiresAt: 1200)
        revocations.purge(now: 1200)
        #expect(revocations.isRevoked(sub: "alice", issuedAt: 900, now: 1500), "alice's count stays in the slot")
        #expect(!revocations.isRevoked(sub: "carol", issuedAt: 900, now: 1500))
    }
}
