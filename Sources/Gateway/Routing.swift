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
        let bytes = Array(path.utf8)
        guard bytes.first == UInt8(ascii: "/"), !bytes.contains(UInt8(ascii: "\\")) else { return false }
        var segment: [UInt8] = []
        var index = 1
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if segment == [46] || segment == [46, 46] { return false }
                segment.removeAll(keepingCapacity: true)
                index += 1
                continue
            }
            var byte = bytes[index]
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
            segment.append(byte)
            index += 1
        }
        return true
    }

}
