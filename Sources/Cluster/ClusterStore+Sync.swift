import Redis

/// The sync of every (re)connect (SPEC.md "Several instances"): this instance writes back the revocations it holds
/// (the script keeps the later times, so what Redis already has is untouched, and publishes only what it lacked),
/// then loads every revocation key with SCAN (never KEYS, which blocks the server) and MGET, page by page.
extension ClusterStore {
    /// Writes back what this instance holds (the script keeps the later times, so what Redis already has is
    /// untouched), then loads every revocation key.
    func sync(session current: Int) {
        guard let commands else { return }
        let now = wallClock()
        let held = snapshot().filter { $0.expiresAt > now }
        writeBack(held[...], on: commands, session: current) { [self] in
            load(cursor: Array("0".utf8), page: 0, on: commands, session: current) { [self] in
                perform(link.synced())
            }
        }
    }

    private func writeBack(
        _ records: ArraySlice<RevocationRecord>, on connection: RedisConnection, session current: Int,
        then: @escaping () -> Void
    ) {
        guard current == session else { return }
        guard !records.isEmpty else {
            then()
            return
        }
        let batch = records.prefix(Self.writeBackBatch)
        var answered = 0
        for record in batch {
            // A refusal (a key of another type under the prefix) skips that one; a broken connection ends the session.
            writeRevocation(record, on: connection) { [self] _ in
                guard current == session else { return }
                answered += 1
                if answered == batch.count {
                    writeBack(records.dropFirst(batch.count), on: connection, session: current, then: then)
                }
            }
        }
    }

    private func load(
        cursor: [UInt8], page: Int, on connection: RedisConnection, session current: Int, then: @escaping () -> Void
    ) {
        guard page < Self.maxScanPages else {
            fail("SCAN did not finish within \(Self.maxScanPages) pages", session: current)
            return
        }
        let scan = RedisCommand([
            Array("SCAN".utf8), cursor, Array("MATCH".utf8), keys.revokedPattern, Array("COUNT".utf8),
            Array(Self.scanCount.utf8),
        ])
        roundTrip(scan, on: connection) { [self] result in
            guard current == session, case .success(let reply) = result else { return }
            guard let parts = reply.elements, parts.count == 2, let next = parts[0].bytes, !next.isEmpty,
                next.count <= 20, next.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let found = parts[1].elements
            else {
                fail("SCAN answered \(reply)", session: current)
                return
            }
            let names = found.compactMap(\.bytes)
            let proceed = { [self] in
                if next == Array("0".utf8) {
                    then()
                } else {
                    load(cursor: next, page: page + 1, on: connection, session: current, then: then)
                }
            }
            guard !names.isEmpty else {
                proceed()
                return
            }
            roundTrip(RedisCommand([Array("MGET".utf8)] + names), on: connection) { [self] result in
                guard current == session, case .success(let values) = result else { return }
                guard let values = values.elements, values.count == names.count else {
                    fail("MGET answered \(values)", session: current)
                    return
                }
                var records: [RevocationRecord] = []
                for (name, value) in zip(names, values) {
                    // A key that expired between SCAN and MGET is null; one of another shape is skipped.
                    guard let sub = keys.sub(ofKey: name), let bytes = value.bytes,
                        let times = RevocationRecord.times(bytes)
                    else { continue }
                    records.append(RevocationRecord(sub: sub, revokedAt: times.revokedAt, expiresAt: times.expiresAt))
                }
                if !records.isEmpty { received(records) }
                proceed()
            }
        }
    }
}
