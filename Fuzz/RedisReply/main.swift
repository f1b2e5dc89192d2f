// ReplyReader (hiredis's RESP reader with authgate's caps) and the revocation text read back from Redis: every
// byte of a reply comes from the network. The input is FuzzInput's flags byte and split point, then the bytes
// a connection would read.

import Cluster
import FuzzSupport
import Redis

struct Transcript: Equatable {
    var replies: [RedisReply] = []
    var failed = false
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let transcript = input.expectSameForEveryReading { reads in
        let reader = ReplyReader()
        var transcript = Transcript()
        do {
            for read in reads {
                try input.bytes[read].withUnsafeBytes { try reader.feed($0) }
                while let reply = try reader.next() { transcript.replies.append(reply) }
            }
        } catch {
            transcript.failed = true
        }
        return transcript
    }
    for reply in transcript.replies { check(reply, depth: 0) }
    return 0
}

/// Within the reader's bounds, and what the cluster store reads from a reply never traps.
func check(_ reply: RedisReply, depth: Int) {
    // hiredis reads nine tasks deep: a root array and eight levels under it.
    precondition(depth <= 8, "nested deeper than hiredis reads")
    switch reply {
    case .array(let elements):
        precondition(elements.count <= 65_536, "an array over the element cap")
        for element in elements { check(element, depth: depth + 1) }
    case .bulk(let bytes):
        if let record = RevocationRecord.message(bytes) {
            precondition(!record.sub.isEmpty && record.sub.utf8.count <= RevocationRecord.maxSubBytes, "sub bounds")
            precondition(record.revokedAt >= 0 && record.expiresAt >= 0, "negative seconds")
        }
        _ = RevocationRecord.times(bytes)
        _ = ClusterKeys(prefix: "fuzz:").sub(ofKey: bytes)
    default:
        _ = reply.errorKind
    }
}

FuzzDriver.run(fuzz)
