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

    /// At most 15 bytes, which Swift keeps inside the `String` itself: no allocation.
    package var description: String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 15) { buffer in
            var count = 0
            for shift in stride(from: 24, through: 0, by: -8) {
                let octet = UInt8(truncatingIfNeeded: value >> UInt32(shift))
                if shift != 24 {
                    buffer[count] = UInt8(ascii: ".")
                    count += 1
                }
                if octet >= 100 {
                    buffer[count] = UInt8(ascii: "0") + octet / 100
                    count += 1
                }
                if octet >= 10 {
                    buffer[count] = UInt8(ascii: "0") + octet / 10 % 10
                    count += 1
                }
                buffer[count] = UInt8(ascii: "0") + octet % 10
                count += 1
            }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<count]), as: UTF8.self)
        }
    }

    static func parse(_ bytes: ArraySlice<UInt8>) -> IPv4Address? {
        bytes.withUnsafeBytes { parse($0) }
    }

    /// The one reading of dotted-decimal text, in one pass that allocates nothing: X-Forwarded-For entries are
    /// read with it on the request path.
    package static func parse(_ bytes: UnsafeRawBufferPointer) -> IPv4Address? {
        var value: UInt32 = 0
        var parts = 0
        var digits = 0
        var octet: UInt32 = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | octet
                parts += 1
                digits = 0
                octet = 0
            } else if ASCII.isDigit(byte) {
                // No leading zero: "010" is refused rather than read as octal or decimal.
                guard digits < 3, digits == 0 || octet != 0 else { return nil }
                octet = octet * 10 + UInt32(byte &- UInt8(ascii: "0"))
                guard octet <= 255 else { return nil }
                digits += 1
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return IPv4Address(value: value << 8 | octet)
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

    /// RFC 5952's text: lowercase, no leading zeros, the longest run of two or more zero groups as "::",
    /// and IPv4-mapped addresses as "::ffff:192.0.2.1" — the form logs and peers expect.
    /// Written into a buffer on the stack: a text of at most 15 bytes ("2001:db8::7") allocates nothing, a longer
    /// one only its `String`.
    package var description: String {
        if high == 0 && low >> 32 == 0xFFFF {
            return "::ffff:" + IPv4Address(value: UInt32(low & 0xFFFF_FFFF)).description
        }
        let high = self.high
        let low = self.low
        func group(_ index: Int) -> UInt16 {
            let half = index < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> UInt64(48 - 16 * (index & 3)))
        }
        // The longest run of two or more zero groups (the first of equal ones) becomes "::".
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard group(index) == 0 else {
                index += 1
                continue
            }
            let start = index
            while index < 8 && group(index) == 0 { index += 1 }
            if index - start > bestLength {
                bestStart = start
                bestLength = index - start
            }
        }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { buffer in
            var count = 0
            var index = 0
            while index < 8 {
                if index == bestStart {
                    buffer[count] = UInt8(ascii: ":")
                    buffer[count + 1] = UInt8(ascii: ":")
                    count += 2
                    index += bestLength
                    continue
                }
                if index > 0 && index != bestStart + bestLength {
                    buffer[count] = UInt8(ascii: ":")
                    count += 1
                }
                let value = group(index)
                var shift: UInt16 = 12
                while shift > 0 && (value >> shift) & 0xF == 0 { shift -= 4 }
                while true {
                    let nibble = UInt8(truncatingIfNeeded: (value >> shift) & 0xF)
                    buffer[count] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                    count += 1
                    if shift == 0 { break }
                    shift -= 4
                }
                index += 1
            }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<count]), as: UTF8.self)
        }
    }

    static func parse(_ bytes: ArraySlice<UInt8>) -> IPv6Address? {
        bytes.withUnsafeBytes { parse($0) }
    }

    /// The one reading of RFC 4291 text, in one pass over the bytes with the groups on the stack: X-Forwarded-For
    /// entries are read with it on the request path.
    package static func parse(_ bytes: UnsafeRawBufferPointer) -> IPv6Address? {
        let count = bytes.count
        guard count >= 2, count <= 45 else { return nil }
        let colon = UInt8(ascii: ":")
        return withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 8) { groups -> IPv6Address? in
            var filled = 0
            /// Where "::" stands, as the number of groups before it.
            var gap: Int?
            var index = 0
            if bytes[0] == colon {
                guard bytes[1] == colon else { return nil }
                gap = 0
                index = 2
            }
            while index < count {
                let start = index
                var group: UInt16 = 0
                while index < count, index - start < 4, ASCII.isHexDigit(bytes[index]) {
                    group = group << 4 | UInt16(ASCII.hexValue(bytes[index]))
                    index += 1
                }
                if index < count, bytes[index] == UInt8(ascii: ".") {
                    // The last 32 bits in dotted decimal: the rest of the text is one IPv4 address.
                    guard filled <= 6,
                        let v4 = IPv4Address.parse(UnsafeRawBufferPointer(rebasing: bytes[start..<count]))
                    else { return nil }
                    groups[filled] = UInt16(v4.value >> 16)
                    groups[filled + 1] = UInt16(v4.value & 0xFFFF)
                    filled += 2
                    index = count
                    break
                }
                guard index > start, filled < 8 else { return nil }
                groups[filled] = group
                filled += 1
                guard index < count else { break }
                guard bytes[index] == colon, index + 1 < count else { return nil }
                index += 1
                if bytes[index] == colon {
                    guard gap == nil else { return nil }
                    gap = filled
                    index += 1
                }
            }
            if let gap {
                guard filled <= 7 else { return nil }
                // The groups after "::" move to the end; the run between is zeros.
                let after = filled - gap
                for offset in 0..<after { groups[7 - offset] = groups[filled - 1 - offset] }
                for position in gap..<(8 - after) { groups[position] = 0 }
            } else {
                guard filled == 8 else { return nil }
            }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for position in 0..<4 { high = high << 16 | UInt64(groups[position]) }
            for position in 4..<8 { low = low << 16 | UInt64(groups[position]) }
            return IPv6Address(high: high, low: low)
        }
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
