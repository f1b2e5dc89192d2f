/// What authgate keeps in Redis, in one place: the key names under `key_prefix`, the two Lua scripts, and the
/// text of a revocation (in its key's value and in a pub/sub message). Everything read back is checked as hostile:
/// another writer, or something that is not Redis at all, may have put anything there.
package struct ClusterKeys: Sendable {
    package let prefix: String

    package init(prefix: String) {
        self.prefix = prefix
    }

    /// The revocations' pub/sub channel.
    package var channel: [UInt8] { Array((prefix + "revocations").utf8) }

    package func rateLimit(_ address: String) -> [UInt8] { Array((prefix + "ratelimit:" + address).utf8) }

    package func revoked(_ sub: String) -> [UInt8] { Array((prefix + "revoked:").utf8) + Array(sub.utf8) }

    /// The SCAN pattern of every revocation key: the prefix with glob characters escaped, then `revoked:*`.
    package var revokedPattern: [UInt8] {
        var pattern: [UInt8] = []
        for byte in (prefix + "revoked:").utf8 {
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[")
                || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "\\")
            {
                pattern.append(UInt8(ascii: "\\"))
            }
            pattern.append(byte)
        }
        return pattern + [UInt8(ascii: "*")]
    }

    /// The sub a revocation key names, or nil for a key that is not one.
    package func sub(ofKey key: [UInt8]) -> String? {
        let head = Array((prefix + "revoked:").utf8)
        guard key.count > head.count, key.starts(with: head) else { return nil }
        return RevocationRecord.validSub(Array(key[head.count...]))
    }
}

/// One revocation as the instances share it: tokens of `sub` issued at or before `revokedAt` are refused until
/// `expiresAt` (both whole seconds since 1970).
package struct RevocationRecord: Sendable, Equatable {
    package let sub: String
    package let revokedAt: Int
    package let expiresAt: Int

    package init(sub: String, revokedAt: Int, expiresAt: Int) {
        self.sub = sub
        self.revokedAt = revokedAt
        self.expiresAt = expiresAt
    }

    /// The longest sub accepted from Redis (the admin /revoke takes at most 1 KiB too).
    package static let maxSubBytes = 1024

    /// "REVOKEDAT:EXPIRESAT", a key's value.
    package static func times(_ bytes: [UInt8]) -> (revokedAt: Int, expiresAt: Int)? {
        let parts = bytes.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let revokedAt = seconds(parts[0]), let expiresAt = seconds(parts[1]) else {
            return nil
        }
        return (revokedAt, expiresAt)
    }

    /// "REVOKEDAT:EXPIRESAT:SUB", a pub/sub message (the sub may hold ":").
    package static func message(_ bytes: [UInt8]) -> RevocationRecord? {
        let parts = bytes.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let revokedAt = seconds(parts[0]), let expiresAt = seconds(parts[1]),
            let sub = validSub(Array(parts[2]))
        else { return nil }
        return RevocationRecord(sub: sub, revokedAt: revokedAt, expiresAt: expiresAt)
    }

    /// 1 to 12 decimal digits: seconds since 1970 until the year 33658.
    private static func seconds(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 12, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return bytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// A sub is non-empty valid UTF-8 of at most `maxSubBytes` bytes without control characters: what the admin
    /// `/revoke` accepts, and what a token's `sub` can be.
    static func validSub(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty, bytes.count <= maxSubBytes, !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }),
            let text = String(validating: bytes, as: UTF8.self)
        else {
            return nil
        }
        return text
    }
}

/// The Lua scripts, run with EVALSHA (their SHA1 learned from SCRIPT LOAD on every connection), EVAL when the
/// server answers NOSCRIPT (a SCRIPT FLUSH, a failover to a replica that never saw them).
package enum ClusterScript: CaseIterable, Sendable {
    /// The sign-in rate limit as GCRA (the generic cell rate algorithm): one key per address holding the
    /// theoretical arrival time in milliseconds of Redis's clock, so that every instance shares one clock. An
    /// attempt is allowed when it leaves the arrival time at most `period` ahead of now, which is the token
    /// bucket of the local limiter: `count` at once, then one per `period / count`. Returns 0 (allowed) or the
    /// whole seconds to wait. KEYS[1] the address's key; ARGV count, period in milliseconds.
    case rateLimit
    /// Records a revocation, keeping the later of each time (as the in-memory store does), with the remaining
    /// time as its TTL, and publishes it when Redis did not hold it already. Returns 1 when it wrote, 0 when
    /// Redis held as much. KEYS[1] the sub's key; ARGV revokedAt, expiresAt, now (the instance's, seconds),
    /// channel, sub.
    case revoke

    package var source: String {
        switch self {
        case .rateLimit:
            return """
                local count = tonumber(ARGV[1])
                local period = tonumber(ARGV[2])
                local clock = redis.call('TIME')
                local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
                local tat = tonumber(redis.call('GET', KEYS[1])) or now
                if tat < now then tat = now end
                local nextTat = tat + period / count
                if nextTat - now > period then
                  return math.max(1, math.ceil((nextTat - period - now) / 1000))
                end
                redis.call('SET', KEYS[1], string.format('%.3f', nextTat), 'PX', math.max(1, math.ceil(nextTat - now)))
                return 0
                """
        case .revoke:
            return """
                local at = tonumber(ARGV[1])
                local expires = tonumber(ARGV[2])
                local held = redis.call('GET', KEYS[1])
                if held then
                  local a, e = string.match(held, '^(%d+):(%d+)$')
                  if a then
                    a = tonumber(a)
                    e = tonumber(e)
                    if a >= at and e >= expires then return 0 end
                    if a > at then at = a end
                    if e > expires then expires = e end
                  end
                end
                local ttl = expires - tonumber(ARGV[3])
                if ttl <= 0 then return 0 end
                local times = string.format('%d:%d', at, expires)
                redis.call('SET', KEYS[1], times, 'EX', ttl)
                redis.call('PUBLISH', ARGV[4], times .. ':' .. ARGV[5])
                return 1
                """
        }
    }
}
