/// RFC 3986 "scheme://host[:port][/path][?query]" read strictly, for every URL the configuration and the
/// AWS environment give: one parser, so that the gateway, curl and the SigV4 signer agree on what a URL
/// names. Refused: anything but printable ASCII, userinfo, fragments, hosts that are neither an IP address
/// nor a DNS name, ports outside 1–65535, bad percent-encoding and dot segments (curl would remove them and
/// send, and sign, another path than the one written).
struct StrictURL {
    let scheme: String
    let host: URLHost
    /// The port written, or the scheme's default.
    let port: UInt16
    /// "" or "/…", exactly as written.
    let path: String
    /// Without its "?"; nil when there is none.
    let query: String?

    /// `schemes` maps the accepted schemes (lowercase) to their default ports.
    init(_ text: String, schemes: [String: UInt16]) throws(EndpointParseError) {
        let bytes = Array(text.utf8)
        try Self.checkCharacters(bytes)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0,
            ASCII.isLetter(bytes[0]),
            bytes[..<colon].allSatisfy({
                ASCII.isLetter($0) || ASCII.isDigit($0) || "+-.".utf8.contains($0)
            })
        else {
            throw EndpointParseError(.scheme, "there is no scheme (expected \(Self.expected(schemes)))")
        }
        let scheme = String(decoding: bytes[..<colon].map(ASCII.lowercased), as: UTF8.self)
        guard let defaultPort = schemes[scheme] else {
            throw EndpointParseError(.scheme, "the scheme \"\(scheme)\" is not \(Self.expected(schemes))")
        }
        guard bytes[(colon + 1)...].starts(with: "//".utf8) else {
            throw EndpointParseError(.authority, "expected \"//\" and a host after \"\(scheme):\"")
        }
        guard !bytes.contains(UInt8(ascii: "#")) else {
            throw EndpointParseError(.fragment, "a fragment (#…) is not allowed")
        }
        let authorityStart = colon + 3
        let authorityEnd =
            bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.endIndex
        let authority = bytes[authorityStart..<authorityEnd]
        guard !authority.contains(UInt8(ascii: "@")) else {
            throw EndpointParseError(.userinfo, "userinfo (user:password@) is not allowed in a URL")
        }
        let (host, port) = try Self.hostAndPort(authority, defaultPort: defaultPort)
        let queryStart = bytes[authorityEnd...].firstIndex(of: UInt8(ascii: "?"))
        let path = bytes[authorityEnd..<(queryStart ?? bytes.endIndex)]
        try Self.checkPath(path)
        var query: String?
        if let queryStart {
            let queryBytes = bytes[(queryStart + 1)...]
            try Self.checkQuery(queryBytes)
            query = String(decoding: queryBytes, as: UTF8.self)
        }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = String(decoding: path, as: UTF8.self)
        self.query = query
    }

    private static func expected(_ schemes: [String: UInt16]) -> String {
        schemes.keys.sorted().map { "\"\($0)://\"" }.joined(separator: " or ")
    }

    /// Printable ASCII only: a space, a control byte or raw UTF-8 has no meaning curl and the signer share.
    static func checkCharacters(_ bytes: [UInt8]) throws(EndpointParseError) {
        guard !bytes.isEmpty else { throw EndpointParseError(.characters, "it is empty") }
        if let bad = bytes.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            let what = bad == 0x20 ? "a space" : bad < 0x20 || bad == 0x7F ? "a control character" : "a non-ASCII byte"
            throw EndpointParseError(.characters, "it contains \(what) (percent-encode it)")
        }
    }

    private static func hostAndPort(_ authority: ArraySlice<UInt8>, defaultPort: UInt16) throws(EndpointParseError)
        -> (URLHost, UInt16)
    {
        var hostEnd = authority.endIndex
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else {
                throw EndpointParseError(.authority, "the \"[\" of an IPv6 address is not closed")
            }
            hostEnd = close + 1
            guard hostEnd == authority.endIndex || authority[hostEnd] == UInt8(ascii: ":") else {
                throw EndpointParseError(.authority, "expected \":PORT\" or the path after \"]\"")
            }
        } else if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
            hostEnd = colon
        }
        let host = try URLHost.parse(authority[authority.startIndex..<hostEnd])
        guard hostEnd < authority.endIndex else { return (host, defaultPort) }
        let portText = authority[(hostEnd + 1)...]
        guard let port = port(portText), port > 0 else {
            let text = String(decoding: portText, as: UTF8.self)
            throw EndpointParseError(.port, "the port \"\(text)\" is not a number from 1 to 65535")
        }
        return (host, port)
    }

    /// One to five decimal digits up to 65535.
    static func port(_ text: ArraySlice<UInt8>) -> UInt16? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy(ASCII.isDigit) else { return nil }
        let value = text.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return value <= 65535 ? UInt16(value) : nil
    }

    /// "" or "/" followed by segments of pchar and valid "%XX"; no segment that is, or decodes to, "." or "..".
    static func checkPath(_ path: ArraySlice<UInt8>) throws(EndpointParseError) {
        guard !path.isEmpty else { return }
        guard path.first == UInt8(ascii: "/") else {
            throw EndpointParseError(.path, "the path must start with \"/\"")
        }
        for segment in path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            let decoded = try decode(segment, .path) { URLSyntax.isPathCharacter($0) }
            if decoded == Array(".".utf8) || decoded == Array("..".utf8) {
                throw EndpointParseError(
                    .path, "dot segments (\"/./\", \"/../\") are not allowed: curl would send another path")
            }
        }
    }

    /// pchar, "/" and "?" with valid "%XX".
    static func checkQuery(_ query: ArraySlice<UInt8>) throws(EndpointParseError) {
        _ = try decode(query, .query) {
            URLSyntax.isPathCharacter($0) || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?")
        }
    }

    /// The bytes `text` stands for; every byte must be allowed or start a "%" and two hex digits.
    private static func decode(
        _ text: ArraySlice<UInt8>, _ reason: EndpointParseError.Reason, allowed: (UInt8) -> Bool
    ) throws(EndpointParseError) -> [UInt8] {
        let what = reason == .query ? "query" : "path"
        var decoded: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < text.endIndex, ASCII.isHexDigit(text[index + 1]), ASCII.isHexDigit(text[index + 2])
                else {
                    throw EndpointParseError(reason, "the \(what) has a \"%\" not followed by two hex digits")
                }
                decoded.append(ASCII.hexValue(text[index + 1]) << 4 | ASCII.hexValue(text[index + 2]))
                index += 3
                continue
            }
            guard allowed(byte) else {
                throw EndpointParseError(reason, "the \(what) may not contain \"\(Character(Unicode.Scalar(byte)))\"")
            }
            decoded.append(byte)
            index += 1
        }
        return decoded
    }
}

/// Character classes of RFC 3986 that other rules build on (authgate's route prefixes, for one).
package enum URLSyntax {
    /// pchar without its percent-encoding: unreserved, sub-delims, ":" and "@".
    package static func isPathCharacter(_ byte: UInt8) -> Bool {
        if ASCII.isLetter(byte) || ASCII.isDigit(byte) { return true }
        switch byte {
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"),
            UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
            UInt8(ascii: ":"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }
}
