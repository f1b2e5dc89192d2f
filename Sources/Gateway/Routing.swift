import Encoding
import HTTP1

/// The configured routes, longest prefix first; a prefix matches on segment boundaries only.
struct RouteTable: Sendable {
    let routes: [RouteSettings]

    init(_ routes: [RouteSettings]) {
        self.routes = routes.sorted { $0.prefix.utf8.count > $1.prefix.utf8.count }
    }

    /// "/api" matches "/api" and "/api/x", not "/apix"; "/" matches everything.
    func match(_ path: String) -> RouteSettings? {
        routes.first { Self.path(path, isUnder: $0.prefix) }
    }

    static func path(_ path: String, isUnder prefix: String) -> Bool {
        if prefix == "/" { return true }
        guard path.hasPrefix(prefix) else { return false }
        let rest = path.utf8.dropFirst(prefix.utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "/")
    }
}

/// Paths that an upstream could read differently from authgate are refused (400): dot segments, also
/// percent-encoded ones, encoded "/" or "\", a raw "\", and encoded NUL.
enum PathSafety {
    static func isSafe(_ path: String) -> Bool {
        path.withUTF8Bytes { isSafe($0) }
    }

    /// Segments are compared as they end, so that no segment is ever copied out of the path.
    static func isSafe(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.first == UInt8(ascii: "/") else { return false }
        // The decoded bytes of the current segment, as far as a dot-segment check needs them: its length, and
        // whether every byte so far was a dot.
        var segmentLength = 0
        var segmentIsDots = true
        var index = 1
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if segmentIsDots && (segmentLength == 1 || segmentLength == 2) { return false }
                segmentLength = 0
                segmentIsDots = true
                index += 1
                continue
            }
            var byte = bytes[index]
            if byte == UInt8(ascii: "\\") { return false }
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = Hex.value(bytes[index + 1]),
                    let low = Hex.value(bytes[index + 2])
                else {
                    return false
                }
                byte = high << 4 | low
                if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "\\") || byte == 0 { return false }
                index += 2
            }
            segmentLength += 1
            segmentIsDots = segmentIsDots && byte == UInt8(ascii: ".")
            index += 1
        }
        return true
    }

}
