/// One RESP2 reply, copied out of hiredis's objects: nothing of it points into C memory.
package enum RedisReply: Sendable, Equatable, CustomStringConvertible {
    /// `+OK`: a status line.
    case status(String)
    /// `-ERR …`: the server refused the command; the first word is the error's kind (`NOSCRIPT`, `NOAUTH`…).
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    /// `$-1` or `*-1`.
    case null
    case array([RedisReply])

    /// The bytes of a bulk or status reply.
    package var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        default: return nil
        }
    }

    package var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    package var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    package var elements: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The error's kind: the first word of an error reply (`NOSCRIPT`), nil for any other reply.
    package var errorKind: Substring? {
        if case .error(let message) = self { return message.split(separator: " ", maxSplits: 1).first ?? "" }
        return nil
    }

    /// For logs: never a value's bytes (a reply may carry a sub), only its shape.
    package var description: String {
        switch self {
        case .status(let text): return "status \(text.prefix(64))"
        case .error(let message): return "error \(message.prefix(128))"
        case .integer(let value): return "integer \(value)"
        case .bulk(let bytes): return "bulk of \(bytes.count) bytes"
        case .null: return "null"
        case .array(let elements): return "array of \(elements.count)"
        }
    }
}

/// A command as RESP writes it: an array of bulk strings (any bytes, binary-safe).
package struct RedisCommand: Sendable {
    package let arguments: [[UInt8]]

    package init(_ arguments: [[UInt8]]) {
        self.arguments = arguments
    }

    package init(_ arguments: String...) {
        self.arguments = arguments.map { Array($0.utf8) }
    }

    /// The command's name, for metrics and logs (never its arguments: they may hold a password or a sub).
    package var name: String {
        arguments.first.map { String(decoding: $0.prefix(16), as: UTF8.self).uppercased() } ?? ""
    }

    /// `*N\r\n` then `$LEN\r\nBYTES\r\n` for each argument.
    package func encode(into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "*"))
        buffer.append(contentsOf: String(arguments.count).utf8)
        buffer.append(contentsOf: [0x0D, 0x0A])
        for argument in arguments {
            buffer.append(UInt8(ascii: "$"))
            buffer.append(contentsOf: String(argument.count).utf8)
            buffer.append(contentsOf: [0x0D, 0x0A])
            buffer.append(contentsOf: argument)
            buffer.append(contentsOf: [0x0D, 0x0A])
        }
    }
}
