import Cluster
import Testing

/// The link's states and back-off without sockets, and what is read back from Redis as hostile text.
struct ClusterLinkTests {
    @Test func aLinkConnectsSyncsAndComesUp() {
        var link = ClusterLink()
        #expect(link.start() == .connect)
        #expect(link.start() == .none)
        #expect(link.synced() == .none, "not before it connected")
        #expect(link.connected() == .sync)
        #expect(!link.isUp)
        #expect(link.synced() == .reportUp)
        #expect(link.isUp)
    }

    @Test func failedTriesBackOffToFiveSecondsAndStartOverOnceUp() {
        var link = ClusterLink()
        _ = link.start()
        var delays: [UInt64] = []
        for _ in 0..<10 {
            guard case .closeAndRetry(let delay) = link.failed() else {
                Issue.record("a failure while connecting must close and retry")
                return
            }
            delays.append(delay)
            #expect(link.failed() == .none, "one failure per try")
            #expect(link.retryDue() == .connect)
        }
        let milliseconds = delays.map { $0 / 1_000_000 }
        #expect(milliseconds == [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000])
        #expect(delays.allSatisfy { $0 <= 5_000_000_000 })
        _ = link.connected()
        _ = link.synced()
        #expect(link.failed() == .closeAndRetry(afterNanoseconds: 100_000_000), "up, then down: the first back-off")
        #expect(ClusterLink.backoff(attempt: 1_000) == 5_000_000_000)
    }

    @Test func aFailureWhileSyncingRetriesAndStopEndsEverything() {
        var link = ClusterLink()
        _ = link.start()
        _ = link.connected()
        #expect(link.failed() == .closeAndRetry(afterNanoseconds: 100_000_000))
        #expect(link.stop() == .close)
        #expect(link.retryDue() == .none)
        #expect(link.stop() == .none)
    }

    @Test func revocationTextIsReadStrictly() {
        #expect(
            RevocationRecord.message(Array("100:200:sub:with:colons".utf8))
                == RevocationRecord(sub: "sub:with:colons", revokedAt: 100, expiresAt: 200))
        for bad in ["100:200:", "100:200", ":200:s", "1e3:200:s", "-1:200:s", "100:9999999999999:s"] {
            #expect(RevocationRecord.message(Array(bad.utf8)) == nil, "\(bad)")
        }
        #expect(RevocationRecord.message(Array("1:2:".utf8) + [0xFF, 0xFE]) == nil, "not UTF-8")
        #expect(RevocationRecord.message(Array("1:2:a\nb".utf8)) == nil, "a control character")
        #expect(RevocationRecord.message(Array("1:2:".utf8) + Array(repeating: 0x61, count: 1025)) == nil)
        #expect(RevocationRecord.times(Array("100:200".utf8))! == (100, 200))
        #expect(RevocationRecord.times(Array("100:200:3".utf8)) == nil)
    }

    @Test func keysLiveUnderThePrefixAndItsGlobCharactersAreEscaped() {
        let keys = ClusterKeys(prefix: "gw[1]*:")
        #expect(keys.revokedPattern == Array(#"gw\[1\]\*:revoked:*"#.utf8))
        #expect(keys.sub(ofKey: Array("gw[1]*:revoked:abc".utf8)) == "abc")
        #expect(keys.sub(ofKey: Array("gw[1]*:revoked:".utf8)) == nil)
        #expect(keys.sub(ofKey: Array("other:revoked:abc".utf8)) == nil)
        #expect(keys.channel == Array("gw[1]*:revocations".utf8))
    }
}
