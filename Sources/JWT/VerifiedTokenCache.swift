import Cryptography
import Synchronization

/// Tokens already verified, keyed by the SHA-256 of the token (the token itself is never kept), least
/// recently used evicted first. An entry never outlives its token's `exp`, and goes when its kid leaves its pool's
/// JWKS.
/// The route's groups and scopes are still checked on every request: only the signature and claims are cached.
package final class VerifiedTokenCache: Sendable {
    package struct Key: Hashable, Sendable {
        let words: (UInt64, UInt64, UInt64, UInt64)

        package init(token: UnsafeRawBufferPointer) {
            // The digest lands in the words themselves: no array for it on every request.
            var digest: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &digest) { SHA256.hash(token, into: $0) }
            words = digest
        }

        package static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.words == rhs.words
        }

        package func hash(into hasher: inout Hasher) {
            hasher.combine(words.0)
            hasher.combine(words.1)
        }
    }

    private struct Node {
        var key: Key
        var token: VerifiedToken
        var previous: Int
        var next: Int
    }

    private struct Storage {
        var index: [Key: Int] = [:]
        var nodes: [Node] = []
        var free: [Int] = []
        var head = -1  // most recently used
        var tail = -1  // least recently used
        var hits = 0
        var misses = 0

        mutating func unlink(_ slot: Int) {
            // The links only: a copy of the node would retain and release every string of its token.
            let previous = nodes[slot].previous
            let next = nodes[slot].next
            if previous >= 0 { nodes[previous].next = next } else { head = next }
            if next >= 0 { nodes[next].previous = previous } else { tail = previous }
        }

        mutating func pushFront(_ slot: Int) {
            nodes[slot].previous = -1
            nodes[slot].next = head
            if head >= 0 { nodes[head].previous = slot }
            head = slot
            if tail < 0 { tail = slot }
        }

        mutating func remove(_ slot: Int) {
            unlink(slot)
            index.removeValue(forKey: nodes[slot].key)
            free.append(slot)
        }
    }

    package let capacity: Int
    private let storage = Mutex(Storage())

    package init(capacity: Int) {
        self.capacity = capacity
    }

    package var isEnabled: Bool { capacity > 0 }

    package var count: Int { storage.withLock { $0.index.count } }

    package var hitsAndMisses: (hits: Int, misses: Int) { storage.withLock { ($0.hits, $0.misses) } }

    /// The verified token for `key` if it is held and not past its `exp` at `now` (seconds since the epoch).
    package func lookup(_ key: Key, now: Double) -> VerifiedToken? {
        guard capacity > 0 else { return nil }
        return storage.withLock { storage in
            guard let slot = storage.index[key] else {
                storage.misses += 1
                return nil
            }
            let token = storage.nodes[slot].token
            guard now < token.expiresAt else {
                storage.remove(slot)
                storage.misses += 1
                return nil
            }
            storage.unlink(slot)
            storage.pushFront(slot)
            storage.hits += 1
            return token
        }
    }

    package func insert(_ key: Key, _ token: VerifiedToken) {
        guard capacity > 0 else { return }
        storage.withLock { storage in
            if let slot = storage.index[key] {
                storage.nodes[slot].token = token
                storage.unlink(slot)
                storage.pushFront(slot)
                return
            }
            if storage.index.count >= capacity, storage.tail >= 0 { storage.remove(storage.tail) }
            let node = Node(key: key, token: token, previous: -1, next: -1)
            let slot: Int
            if let reused = storage.free.popLast() {
                storage.nodes[reused] = node
                slot = reused
            } else {
                storage.nodes.append(node)
                slot = storage.nodes.count - 1
            }
            storage.index[key] = slot
            storage.pushFront(slot)
        }
    }

    /// Drops every entry of `pool` whose signing key is no longer among `keyIDs`, that pool's JWKS. Another
    /// pool's keys may have the same kids: they are not touched.
    package func retainOnly(pool: Int, keyIDs: Set<String>) {
        storage.withLock { storage in
            for slot in Array(storage.index.values) {
                if storage.nodes[slot].token.pool == pool && !keyIDs.contains(storage.nodes[slot].token.keyID) {
                    storage.remove(slot)
                }
            }
        }
    }
}
