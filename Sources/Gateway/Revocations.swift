import Synchronization

/// Gateway-side revocations (SPEC.md "POST /signout"): for each revoked `sub`, the second at or before which
/// its tokens were issued, refused until the entry expires. Fed by /signout and the admin /revoke, and later
/// by a cluster store (`add`, `snapshot`); kept by the server across reloads.
///
/// The check runs on every authorized request, on every loop, so its common answer takes no lock and
/// allocates nothing: with no revocation held it is one atomic load; otherwise the sub's hash picks one of
/// `filterSlots` counters of the revocations whose sub has that hash, and only a counter above zero (a revoked
/// sub, or another with the same slot) takes the lock to read the table. One dictionary behind one lock for
/// every request would be touched by every loop on every request for `revocation_ttl` after a single sign-out,
/// its cache line moving between cores each time; one table per loop would hold every entry once per loop.
///
/// Memory is bounded: one entry per sub (a later revocation of the same sub replaces it), at most
/// `maxEntries` of them; when the table is full the entry closest to its expiry goes first (with tokens that
/// live less than `revocation_ttl`, the oldest entries protect nothing any more).
package final class Revocations: @unchecked Sendable {
    // @unchecked: the counters are atomics in memory this object owns; everything else is behind `table`.

    /// One revoked sub: its tokens issued (`iat`) at or before `revokedAt` are refused until `expiresAt`.
    package struct Entry: Sendable, Equatable {
        package let sub: String
        /// Whole seconds since 1970.
        package let revokedAt: Int
        /// Whole seconds since 1970.
        package let expiresAt: Int

        package init(sub: String, revokedAt: Int, expiresAt: Int) {
            self.sub = sub
            self.revokedAt = revokedAt
            self.expiresAt = expiresAt
        }
    }

    private struct Times {
        var revokedAt: Int
        var expiresAt: Int
    }

    package let maxEntries: Int
    /// Keyed by the sub as a Swift String: two canonically equivalent subs count as one, which can only refuse
    /// more (Cognito's subs are UUIDs).
    private let table = Mutex<[String: Times]>([:])
    /// How many entries the table holds: zero lets every check return at once.
    private let held = Atomic<Int>(0)
    private let slots: UnsafeMutablePointer<Atomic<UInt32>>
    private let slotMask: Int
    /// Applied by `revoke(sub:now:)`: the configuration's `revocation_ttl` in seconds, set again on reload.
    private let ttl = Atomic<Int>(24 * 3600)
    private let observer = Mutex<(@Sendable (Entry) -> Void)?>(nil)

    /// `filterSlots` is rounded up to a power of two: 2^18 counters are 1 MiB, and with 2,600 revocations held
    /// about 1% of the checks of other subs take the lock.
    package init(maxEntries: Int = 100_000, filterSlots: Int = 1 << 18) {
        precondition(maxEntries > 0 && filterSlots > 0)
        self.maxEntries = maxEntries
        var count = 1
        while count < filterSlots { count <<= 1 }
        slotMask = count - 1
        slots = .allocate(capacity: count)
        for index in 0..<count { (slots + index).initialize(to: Atomic<UInt32>(0)) }
    }

    deinit {
        slots.deinitialize(count: slotMask + 1)
        slots.deallocate()
    }

    /// The entries held.
    package var count: Int { held.load(ordering: .relaxed) }

    /// The time-to-live of the revocations `revoke(sub:now:)` makes from now on.
    package var ttlSeconds: Int {
        get { ttl.load(ordering: .relaxed) }
        set { ttl.store(newValue, ordering: .relaxed) }
    }

    /// A sign-out or an operator's revocation at `now` (seconds since 1970): tokens of `sub` issued in this second
    /// or before are refused for `ttlSeconds`. The observer (a cluster store) hears of it; `add` and `load`, which
    /// bring revocations made elsewhere, tell nobody.
    package func revoke(sub: String, now: Double) {
        let second = Int(now.rounded(.down))
        add(sub: sub, at: second, expiresAt: second + ttlSeconds)
        observer.withLock { $0 }?(Entry(sub: sub, revokedAt: second, expiresAt: second + ttlSeconds))
    }

    /// Hears of every revocation made in this process (`revoke`), after it took effect here.
    package func observe(_ body: @escaping @Sendable (Entry) -> Void) {
        observer.withLock { $0 = body }
    }

    /// Records a revocation. For a sub already held, the later of each time is kept: a revocation never
    /// shortens or narrows another.
    package func add(sub: String, at revokedAt: Int, expiresAt: Int) {
        let slot = self.slot(sub)
        table.withLock { table in
            if let held = table[sub] {
                table[sub] = Times(
                    revokedAt: max(held.revokedAt, revokedAt), expiresAt: max(held.expiresAt, expiresAt))
                return
            }
            if table.count >= maxEntries, let soonest = table.min(by: { $0.value.expiresAt < $1.value.expiresAt }) {
                remove(soonest.key, from: &table)
            }
            table[sub] = Times(revokedAt: revokedAt, expiresAt: expiresAt)
            // After the table: a check that sees the counter finds the entry behind the lock.
            slots[slot].add(1, ordering: .releasing)
            held.add(1, ordering: .releasing)
        }
    }

    /// Whether a token of `sub` issued at `issuedAt` is refused at `now` (seconds since 1970). A token without
    /// `iat` of a revoked sub is refused: nothing says it was issued after the revocation.
    package func isRevoked(sub: String, issuedAt: Double?, now: Double) -> Bool {
        guard held.load(ordering: .acquiring) > 0 else { return false }
        guard slots[slot(sub)].load(ordering: .acquiring) > 0 else { return false }
        guard let times = table.withLock({ $0[sub] }), now < Double(times.expiresAt) else { return false }
        // Issued "at or before the revocation's second": iat 100.5 is in second 100.
        guard let issuedAt else { return true }
        return issuedAt < Double(times.revokedAt) + 1
    }

    /// Drops the entries expired at `now`, so that memory is given back and checks return at once again.
    package func purge(now: Double) {
        table.withLock { table in
            let expired = table.compactMap { Double($0.value.expiresAt) <= now ? $0.key : nil }
            for sub in expired { remove(sub, from: &table) }
        }
    }

    /// Every entry held, for a store that loads them elsewhere.
    package var snapshot: [Entry] {
        table.withLock { table in
            table.map { Entry(sub: $0.key, revokedAt: $0.value.revokedAt, expiresAt: $0.value.expiresAt) }
        }
    }

    /// Adds every entry of a snapshot (a store's, or another instance's).
    package func load(_ entries: [Entry]) {
        for entry in entries { add(sub: entry.sub, at: entry.revokedAt, expiresAt: entry.expiresAt) }
    }

    /// Under the lock.
    private func remove(_ sub: String, from table: inout [String: Times]) {
        guard table.removeValue(forKey: sub) != nil else { return }
        slots[slot(sub)].subtract(1, ordering: .releasing)
        held.subtract(1, ordering: .releasing)
    }

    private func slot(_ sub: String) -> Int {
        sub.hashValue & slotMask
    }
}
