/// Why a URL or a socket address was refused: a reason to test against and a sentence that reads after the
/// refused text in a configuration message ("\"http://a@b\": userinfo (user@) is not allowed").
public struct EndpointParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of mistake. A struct, not a public enum, so that a new kind breaks no caller.
    public struct Reason: Hashable, Sendable {
        private enum Code: Hashable, Sendable {
            case characters, scheme, authority, userinfo, host, port, path, query, fragment, unixPath
        }
        private let code: Code

        /// Empty text, a space, a control byte or a byte that is not ASCII.
        public static let characters = Reason(code: .characters)
        /// No scheme, or not one the caller accepts.
        public static let scheme = Reason(code: .scheme)
        /// No "//" after the scheme, or a bracket that does not close.
        public static let authority = Reason(code: .authority)
        public static let userinfo = Reason(code: .userinfo)
        /// Not an IPv4 address, an IPv6 address in brackets or a DNS name.
        public static let host = Reason(code: .host)
        public static let port = Reason(code: .port)
        /// A character that has no place in a path, bad percent-encoding or a dot segment.
        public static let path = Reason(code: .path)
        public static let query = Reason(code: .query)
        public static let fragment = Reason(code: .fragment)
        /// A unix socket path that is relative, too long for `sun_path` or holds a control byte.
        public static let unixPath = Reason(code: .unixPath)
    }

    public let reason: Reason
    public let description: String

    /// Also for rules a caller adds on top of the syntax ("no query here").
    public init(_ reason: Reason, _ description: String) {
        self.reason = reason
        self.description = description
    }
}
