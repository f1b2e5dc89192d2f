/// An IPv4 address, parsed from its dotted-decimal text once and kept as its 32 bits.
package struct IPv4Address: Hashable, Sendable, CustomStringConvertible {
    /// The address in host byte order: 127.0.0.1 is 0x7F00_0001.
    package let value: UInt32

    package init(value: UInt32) { self.value = value }

    package init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Exactly four decimal parts of 0–255 without leading zeros, as inet_pton reads them: "010.0.0.1" and
    /// "127.1" are refused rather than read as inet_aton would (octal, or 127.0.0.1).
    package init?(_ text: some StringProtocol) {
        guard let parsed = Self.parse(Array(text.utf8)[...]) else { return nil }
        self = parsed
    }

    package static let any = IPv4Address(value: 0)
    package static let loopback = IPv4Address(127, 0, 0, 1)

    /// 127.0.0.0/8.
    package var isLoopback: Bool { value >> 24 == 127 }

    package var octets: [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    package var description: String { octets.map { String($0) }.joined(separator: ".") }

    static func parse(_ bytes: ArraySlice<UInt8>) -> IPv4Address? {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(ASCII.isDigit) else { return nil }
            guard part.count == 1 || part.first != UInt8(ascii: "0") else { return nil }
            let octet = part.reduce(0) { $0 * 10 + UInt32($1 - UInt8(ascii: "0")) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return IPv4Address(value: value)
    }
}

/// An IPv6 address, parsed from its RFC 4291 text once and kept as its 128 bits.
package struct IPv6Address: Hashable, Sendable, CustomStringConvertible {
    /// The first and last 64 bits, each in host byte order.
    package let high: UInt64
    package let low: UInt64

    package init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Sixteen bytes in network order, as `in6_addr` and `getaddrinfo` hold them.
    package init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        let all = Array(bytes)
        high = all[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = all[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Eight groups of one to four hex digits, one "::" for a run of zero groups, the last 32 bits
    /// optionally in dotted decimal ("::ffff:192.0.2.1"). No zone ("%eth0"): a configured address names
    /// no interface.
    package init?(_ text: some StringProtocol) {
        guard let parsed = Self.parse(Array(text.utf8)[...]) else { return nil }
        self = parsed
    }

    package static let any = IPv6Address(high: 0, low: 0)
    package static let loopback = IPv6Address(high: 0, low: 1)

    package var bytes: [UInt8] {
        (0..<8).map { UInt8(high >> (56 - 8 * UInt64($0)) & 0xFF) }
            + (0..<8).map { UInt8(low >> (56 - 8 * UInt64($0)) & 0xFF) }
    }

    /// The eight 16-bit groups.
    var groups: [UInt16] {
        (0..<4).map { UInt16(high >> (48 - 16 * UInt64($0)) & 0xFFFF) }
            + (0..<4).map { UInt16(low >> (48 - 16 * UInt64($0)) & 0xFFFF) }
    }

    /// RFC 5952's text: lowercase, no leading zeros, the longest run of two or more zero groups as "::",
    /// and IPv4-mapped addresses as "::ffff:192.0.2.1" — the form logs and peers expect.
    package var description: String {
        let groups = self.groups
        if high == 0 && low >> 32 == 0xFFFF {
            return "::ffff:" + IPv4Address(value: UInt32(low & 0xFFFF_FFFF)).description
        }
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            let start = index
            while index < 8 && groups[index] == 0 { index += 1 }
            if index - start > bestLength {
                bestStart = start
                bestLength = index - start
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    static func parse(_ bytes: ArraySlice<UInt8>) -> IPv6Address? {
        guard bytes.count >= 2, bytes.count <= 45 else { return nil }
        let colon = UInt8(ascii: ":")
        // Split around the one "::" allowed; each side is a list of groups with no empty group.
        var head = bytes
        var tail: ArraySlice<UInt8>?
        var index = bytes.startIndex
        while index < bytes.endIndex - 1 {
            if bytes[index] == colon && bytes[index + 1] == colon {
                guard tail == nil else { return nil }
                head = bytes[bytes.startIndex..<index]
                tail = bytes[(index + 2)...]
                index += 2
            } else {
                index += 1
            }
        }
        guard let headGroups = groups(head, last: tail == nil) else { return nil }
        var all = headGroups
        if let tail {
            guard let tailGroups = groups(tail, last: true), headGroups.count + tailGroups.count <= 7 else {
                return nil
            }
            all += [UInt16](repeating: 0, count: 8 - headGroups.count - tailGroups.count) + tailGroups
        }
        guard all.count == 8 else { return nil }
        let high = all[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = all[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return IPv6Address(high: high, low: low)
    }

    /// The groups of one side of "::" ("" is none); the last part of the whole address may be dotted IPv4.
    private static func groups(_ side: ArraySlice<UInt8>, last: Bool) -> [UInt16]? {
        guard !side.isEmpty else { return [] }
        let parts = side.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (position, part) in parts.enumerated() {
            if last && position == parts.count - 1 && part.contains(UInt8(ascii: ".")) {
                guard let v4 = IPv4Address.parse(part) else { return nil }
                groups += [UInt16(v4.value >> 16), UInt16(v4.value & 0xFFFF)]
                continue
            }
            guard !part.isEmpty, part.count <= 4, part.allSatisfy(ASCII.isHexDigit) else { return nil }
            groups.append(part.reduce(0) { $0 << 4 | UInt16(ASCII.hexValue($1)) })
        }
        return groups
    }
}

/// Byte classes of RFC 3986 and RFC 5234, on UTF-8 bytes.
enum ASCII {
    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }
    static func isHexDigit(_ byte: UInt8) -> Bool { isDigit(byte) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x66) }
    static func hexValue(_ byte: UInt8) -> UInt8 { isDigit(byte) ? byte - 0x30 : (byte | 0x20) - 0x61 + 10 }
    static func lowercased(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
}
