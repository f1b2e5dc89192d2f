import Redis
import Testing

/// hiredis's reader behind `ReplyReader`: every reply type, any cut of the bytes, and hostile input refused.
struct ReplyReaderTests {
    func read(_ text: String, reader: ReplyReader = ReplyReader()) throws -> [RedisReply] {
        try Array(text.utf8).withUnsafeBytes { try reader.feed($0) }
        var replies: [RedisReply] = []
        while let reply = try reader.next() { replies.append(reply) }
        return replies
    }

    @Test func everyReplyTypeIsRead() throws {
        let replies = try read(
            "+OK\r\n-NOSCRIPT No matching script\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n")
        #expect(
            replies == [
                .status("OK"), .error("NOSCRIPT No matching script"), .integer(-42), .bulk([0x61, 0, 0x62]), .null,
                .null, .array([.integer(1), .array([.bulk([])])]),
            ])
        #expect(replies[1].errorKind == "NOSCRIPT")
    }

    @Test func aReplyCutAtEveryByteReadsTheSame() throws {
        let text = Array("*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$12\r\n10:20:sub-id\r\n".utf8)
        let reader = ReplyReader()
        var replies: [RedisReply] = []
        for byte in text {
            try [byte].withUnsafeBytes { try reader.feed($0) }
            while let reply = try reader.next() { replies.append(reply) }
        }
        #expect(
            replies == [
                .array([.bulk(Array("message".utf8)), .bulk(Array("chan".utf8)), .bulk(Array("10:20:sub-id".utf8))])
            ])
    }

    @Test(arguments: [
        "hello\r\n",  // not a type byte
        "*2147483647\r\n",  // an array hiredis would allocate whole before one element came
        "*70000\r\n",  // over the element cap
        "*-2\r\n",  // a negative count other than -1
        "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",  // nested deeper than hiredis reads
        ":12x\r\n",  // not an integer
        "$abc\r\n",  // not a length
    ])
    func hostileBytesAreAnErrorNotACrash(_ text: String) throws {
        let reader = ReplyReader()
        #expect(throws: RedisError.self) { _ = try read(text, reader: reader) }
        // After the first violation nothing more is read from the connection.
        #expect(throws: RedisError.self) { _ = try read("+OK\r\n", reader: reader) }
    }

    @Test func aReplyLongerThanTheLimitIsRefusedBeforeItIsWhole() throws {
        let reader = ReplyReader(maxReplyBytes: 1024)
        _ = try read("$100000\r\n", reader: reader)
        let chunk = String(repeating: "x", count: 512)
        _ = try read(chunk, reader: reader)
        #expect(throws: RedisError.self) { _ = try read(chunk, reader: reader) }
    }

    @Test func theLimitCountsFromTheLastWholeReply() throws {
        let reader = ReplyReader(maxReplyBytes: 64)
        for _ in 0..<100 { #expect(try read(":1\r\n+OK\r\n", reader: reader).count == 2) }
    }

    @Test func commandsAreWrittenAsArraysOfBulkStrings() {
        var buffer: [UInt8] = []
        RedisCommand([Array("SET".utf8), [0, 13, 10]]).encode(into: &buffer)
        #expect(buffer == Array("*2\r\n$3\r\nSET\r\n$3\r\n".utf8) + [0, 13, 10] + [13, 10])
    }
}
