/// Why a Redis round-trip gave no reply: the connection failed, the server's bytes were not RESP, or the
/// answer came too late. A reply of the server's own (`-ERR …`) is a `RedisReply.error`, not this.
package struct RedisError: Error, Sendable, CustomStringConvertible {
    /// A struct, not an enum, so that a new code breaks no caller's switch.
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case connect, closed, protocolViolation, timeout, tls, authentication
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The address did not resolve, or the connection was refused or could not be made.
        package static let connect = Code(.connect)
        /// The connection failed or was closed (by either side) before the reply.
        package static let closed = Code(.closed)
        /// The server sent bytes that are not a RESP reply within the reader's limits.
        package static let protocolViolation = Code(.protocolViolation)
        /// No reply within the round-trip's budget.
        package static let timeout = Code(.timeout)
        /// The TLS handshake or session failed.
        package static let tls = Code(.tls)
        /// AUTH or SELECT was refused.
        package static let authentication = Code(.authentication)

        package var description: String { base.rawValue }
    }

    package let code: Code
    package let description: String

    package init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
