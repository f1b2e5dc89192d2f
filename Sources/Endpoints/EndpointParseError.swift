/// Why a URL or a socket address was refused: a reason to test against and a sentence that reads after the
/// refused text in a configuration message ("\"http://a@b\": userinfo (user@) is not allowed").
package struct EndpointParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of mistake. A struct, not a public enum, so that a new kind breaks no caller.
    package struct Reason: Hashable, Sendable {
        private enum Code: Hashable, Sendable {
            case characters, scheme, authority, userinfo, host, port, path, query, fragment, unixPath
        }
        private let code: Code

        /// Empty text, a space, a control byte or a byte that is not ASCII.
        package static let characters = Reason(code: .characters)
        /// No scheme, or not one the caller accepts.
        package static let scheme = Reason(code: .scheme)
        /// No "//" after the scheme, or a bracket that does not close.
        package static let authority = Reason(code: .authority)
        package static let userinfo = Reason(code: .userinfo)
        /// Not an IPv4 address, an IPv6 address in brackets or a DNS name.
        package static let host = Reason(code: .host)
        package static let port = Reason(code: .port)
        /// A character that has no place in a path, bad percent-encoding or a dot segment.
        package static let path = Reason(code: .path)
        package static let query = Reason(code: .query)
        package static let fragment = Reason(code: .fragment)
        /// A unix socket path that is relative, too long for `sun_path` or holds a control byte.
        package static let unixPath = Reason(code: .unixPath)
    }

    package let reason: Reason
    package let description: String

    /// Also for rules a caller adds on top of the syntax ("no query here").
    package init(_ reason: Reason, _ description: String) {
        self.reason = reason
        self.description = description
    }
}
