import Cryptography
import Encoding
import Foundation
import Synchronization
import Testing

@testable import JWT

private func key(_ text: String) -> VerifiedTokenCache.Key {
    Array(text.utf8).withUnsafeBytes { VerifiedTokenCache.Key(token: $0) }
}

private func token(kid: String = "k1", expiresAt: Double = 2_000_000_000) -> VerifiedToken {
    VerifiedToken(
        pool: 0, keyID: kid, subject: "s", username: nil, groups: [], scopes: [], tokenUse: "id", expiresAt: expiresAt,
        payload: [])
}

@Suite struct VerifiedTokenCacheTests {
    @Test func leastRecentlyUsedIsEvictedFirst() {
        let cache = VerifiedTokenCache(capacity: 2)
        cache.insert(key("a"), token())
        cache.insert(key("b"), token())
        #expect(cache.lookup(key("a"), now: 0) != nil)  // a is now the most recent
        cache.insert(key("c"), token())
        #expect(cache.lookup(key("b"), now: 0) == nil)
        #expect(cache.lookup(key("a"), now: 0) != nil)
        #expect(cache.lookup(key("c"), now: 0) != nil)
        #expect(cache.count == 2)
    }

    @Test func entryNeverOutlivesItsExp() {
        let cache = VerifiedTokenCache(capacity: 10)
        cache.insert(key("a"), token(expiresAt: 100))
        #expect(cache.lookup(key("a"), now: 99.9) != nil)
        #expect(cache.lookup(key("a"), now: 100) == nil)
        #expect(cache.count == 0)
    }

    @Test func entriesOfAKeyThatLeftTheJWKSGo() {
        let cache = VerifiedTokenCache(capacity: 10)
        cache.insert(key("a"), token(kid: "old"))
        cache.insert(key("b"), token(kid: "new"))
        cache.retainOnly(pool: 0, keyIDs: ["new"])
        #expect(cache.lookup(key("a"), now: 0) == nil)
        #expect(cache.lookup(key("b"), now: 0) != nil)
    }

    @Test func capacityZeroTurnsItOff() {
        let cache = VerifiedTokenCache(capacity: 0)
        cache.insert(key("a"), token())
        #expect(cache.lookup(key("a"), now: 0) == nil)
        #expect(!cache.isEnabled)
    }

    @Test func keysDifferForDifferentTokens() {
        #expect(key("a") != key("b"))
        #expect(key("a") == key("a"))
    }
}

/// A JWKS endpoint under the test's control: fetches wait until the test answers them.
private final class ManualFetcher: Sendable {
    private let pending = Mutex<[@Sendable (Result<[UInt8], JWKSCache.JWKSFetchError>) -> Void]>([])
    private let started = Atomic<Int>(0)

    var fetchCount: Int { started.load(ordering: .relaxed) }

    func fetch(_ completion: @escaping @Sendable (Result<[UInt8], JWKSCache.JWKSFetchError>) -> Void) {
        started.add(1, ordering: .relaxed)
        pending.withLock { $0.append(completion) }
    }

    func answer(_ result: Result<[UInt8], JWKSCache.JWKSFetchError>) {
        let waiting = pending.withLock { pending in
            let all = pending
            pending = []
            return all
        }
        for completion in waiting { completion(result) }
    }
}

@Suite struct JWKSCacheTests {
    static let first = RSAPrivateKey(generatingBits: 2048)
    static let second = RSAPrivateKey(generatingBits: 2048)

    static func document(_ keys: [(String, RSAPrivateKey)]) -> [UInt8] {
        let entries = keys.map { kid, key in
            #"{"kty":"RSA","kid":"\#(kid)","n":"\#(Base64URL.encode(key.modulus))","e":"\#(Base64URL.encode(key.exponent))"}"#
        }
        return Array(#"{"keys":[\#(entries.joined(separator: ","))]}"#.utf8)
    }

    @Test func unknownKidFetchesAreCoalescedAndRateLimited() {
        let fetcher = ManualFetcher()
        let cache = JWKSCache(
            settings: .init(refreshSeconds: 3600, minRefetchSeconds: 3600), fetch: fetcher.fetch, observer: { _ in })
        cache.start()
        #expect(fetcher.fetchCount == 1)
        // Asking while the first fetch runs joins it.
        let answered = Atomic<Int>(0)
        for _ in 0..<5 { cache.refetch(forUnknownKeyID: "k2") { _ in answered.add(1, ordering: .relaxed) } }
        #expect(fetcher.fetchCount == 1)
        fetcher.answer(.success(Self.document([("k1", Self.first)])))
        #expect(answered.load(ordering: .relaxed) == 5)
        #expect(cache.everLoaded && cache.keys.keys.keys.sorted() == ["k1"])
        // Within the minimum interval, an unknown kid is answered with the keys held, without a fetch.
        cache.refetch(forUnknownKeyID: "k2") { keys in #expect(keys.keys["k2"] == nil) }
        #expect(fetcher.fetchCount == 1)
    }

    @Test func failedOrRefusedFetchKeepsTheKeys() {
        let fetcher = ManualFetcher()
        let events = Mutex<[String]>([])
        let cache = JWKSCache(
            settings: .init(refreshSeconds: 3600, minRefetchSeconds: 0), fetch: fetcher.fetch,
            observer: { event in
                events.withLock {
                    switch event {
                    case .loaded(let kids, _): $0.append("loaded \(kids)")
                    case .failed(_, let retry, let held): $0.append("failed retry=\(retry) held=\(held)")
                    }
                }
            }
        )
        cache.start()
        fetcher.answer(.failure(.init("connection refused")))
        #expect(!cache.everLoaded)
        cache.refetch(forUnknownKeyID: "k1") { _ in }
        fetcher.answer(.success(Self.document([("k1", Self.first)])))
        cache.refetch(forUnknownKeyID: "k2") { _ in }
        fetcher.answer(.success(Array("not json".utf8)))
        cache.refetch(forUnknownKeyID: "k2") { _ in }
        fetcher.answer(.failure(.init("timed out")))
        #expect(cache.keys.keys.keys.sorted() == ["k1"])
        #expect(
            events.withLock { $0 } == [
                "failed retry=1.0 held=0", "loaded [\"k1\"]", "failed retry=1.0 held=1", "failed retry=2.0 held=1",
            ])
    }

    @Test func firstLoadIsAnnouncedOnceToEachWaiter() {
        let fetcher = ManualFetcher()
        let cache = JWKSCache(
            settings: .init(refreshSeconds: 3600, minRefetchSeconds: 0), fetch: fetcher.fetch, observer: { _ in })
        let calls = Atomic<Int>(0)
        cache.whenFirstLoaded { calls.add(1, ordering: .relaxed) }
        cache.start()
        fetcher.answer(.failure(.init("connection refused")))
        #expect(calls.load(ordering: .relaxed) == 0, "a failed fetch loads nothing")
        cache.refetch(forUnknownKeyID: "k1") { _ in }
        fetcher.answer(.success(Self.document([("k1", Self.first)])))
        #expect(calls.load(ordering: .relaxed) == 1)
        cache.refetch(forUnknownKeyID: "k2") { _ in }
        fetcher.answer(.success(Self.document([("k2", Self.second)])))
        #expect(calls.load(ordering: .relaxed) == 1, "later fetches are not a first load")
        cache.whenFirstLoaded { calls.add(10, ordering: .relaxed) }
        #expect(calls.load(ordering: .relaxed) == 11, "asked once the keys are held: called at once")
    }

    @Test func rotationReplacesTheKeys() {
        let fetcher = ManualFetcher()
        let cache = JWKSCache(
            settings: .init(refreshSeconds: 3600, minRefetchSeconds: 0), fetch: fetcher.fetch, observer: { _ in })
        cache.start()
        fetcher.answer(.success(Self.document([("k1", Self.first)])))
        cache.refetch(forUnknownKeyID: "k2") { keys in #expect(keys.keys["k2"] != nil && keys.keys["k1"] == nil) }
        fetcher.answer(.success(Self.document([("k2", Self.second)])))
    }
}
