/// RFC 9110 character classes, tested per byte on the hot path.
enum ByteClass {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let sp: UInt8 = 32
    static let htab: UInt8 = 9
    static let colon: UInt8 = 58

    /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool {
        inASCIISet(byte, low: 0x03ff_6cfa_0000_0000, high: 0x57ff_ffff_c7ff_fffe)
    }

    /// field-vchar, SP and HTAB: what a header value may hold (obs-text allowed, as RFC 9110 §5.5 does).
    @inline(__always)
    static func isFieldValue(_ byte: UInt8) -> Bool {
        byte == htab || (byte >= sp && byte != 127)
    }

    /// Visible ASCII: what a request-target may hold. Non-ASCII must be percent-encoded.
    @inline(__always)
    static func isTarget(_ byte: UInt8) -> Bool {
        byte >= 33 && byte <= 126
    }

    /// reg-name / IPv4 / IP-literal characters with an optional ":port" (RFC 3986 §3.2.2).
    @inline(__always)
    static func isHost(_ byte: UInt8) -> Bool {
        inASCIISet(byte, low: 0x2fff_7ff2_0000_0000, high: 0x47ff_fffe_afff_fffe)
    }

    /// Membership in a set of ASCII bytes given as a 128-bit mask: constants in the code, no table to load
    /// (a global table costs a lazy-initialization check on every byte).
    @inline(__always)
    private static func inASCIISet(_ byte: UInt8, low: UInt64, high: UInt64) -> Bool {
        if byte < 64 { return (low >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (high >> UInt64(byte &- 64)) & 1 == 1 }
        return false
    }

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        (byte >= 65 && byte <= 90) ? byte | 0x20 : byte
    }
}

/// Eight bytes at a time ("SIMD within a register"): a request head is a kilobyte, most of it one token
/// value, and a byte loop over it costs more than the rest of the parse.
enum WordScan {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// 0x20 in each byte of `literal` (ASCII) that is a lowercase letter: OR-ed into a word of input, it makes
    /// that byte of the input equal the letter exactly when it is the letter in either case, while every other
    /// byte must already be equal.
    @inline(__always)
    static func caseBits(ofLowercase literal: UInt64) -> UInt64 {
        // Adding 0x1F carries a byte of 0x61 ("a") or more into its high bit, adding 0x05 one of 0x7B (past "z")
        // or more; no byte below 0x80 carries into the next.
        let fromA = literal &+ ones &* 0x1F
        let pastZ = literal &+ ones &* 0x05
        return (fromA & ~pastZ & highBits) >> 2
    }

    /// High bit set in each byte of `word` that is zero; the lowest flagged byte is exact (bytes above a zero
    /// byte may be flagged falsely, which callers never look at).
    @inline(__always)
    static func zeroBytes(_ word: UInt64) -> UInt64 {
        (word &- ones) & ~word & highBits
    }

    /// The offset of the first `byte` in `buffer[from...]`, or nil.
    @inline(__always)
    static func firstIndex(of byte: UInt8, in buffer: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var position = start
        let pattern = ones &* UInt64(byte)
        // Sixteen bytes a vector compare while none matches (a line of a head is often a kilobyte token), then the
        // words find where. The mask is read as two words: the standard library's `any` is a call that reduces it
        // lane by lane.
        let wanted = SIMD16<UInt8>(repeating: byte)
        while position + 16 <= buffer.count {
            let chunk = buffer.loadUnaligned(fromByteOffset: position, as: SIMD16<UInt8>.self)
            let matches = unsafeBitCast(chunk .== wanted, to: SIMD2<UInt64>.self)
            if matches[0] | matches[1] != 0 { break }
            position += 16
        }
        while position + 16 <= buffer.count {
            let first = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt64.self))
            let second = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: position + 8, as: UInt64.self))
            let foundFirst = zeroBytes(first ^ pattern)
            let foundSecond = zeroBytes(second ^ pattern)
            if foundFirst | foundSecond != 0 {
                return foundFirst != 0
                    ? position + foundFirst.trailingZeroBitCount / 8
                    : position + 8 + foundSecond.trailingZeroBitCount / 8
            }
            position += 16
        }
        while position + 8 <= buffer.count {
            let word = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt64.self))
            let found = zeroBytes(word ^ pattern)
            if found != 0 { return position + found.trailingZeroBitCount / 8 }
            position += 8
        }
        while position < buffer.count {
            if buffer[position] == byte { return position }
            position += 1
        }
        return nil
    }

    /// The first byte at or after `start` that is not a field-value byte other than HTAB (one below SP, or DEL),
    /// found sixteen and eight bytes at a time; past the last whole word, where the buffer has fewer than eight
    /// bytes left, the caller goes on byte by byte from the position returned.
    @inline(__always)
    static func endOfPlainFieldValue(_ buffer: UnsafeRawBufferPointer, from start: Int) -> Int {
        var position = start
        // Sixteen bytes a vector compare while all are plain (as in `firstIndex`), then the words find where.
        let space = SIMD16<UInt8>(repeating: 0x20)
        let delete = SIMD16<UInt8>(repeating: 0x7F)
        while position + 16 <= buffer.count {
            let chunk = buffer.loadUnaligned(fromByteOffset: position, as: SIMD16<UInt8>.self)
            let stops = unsafeBitCast((chunk .< space) .| (chunk .== delete), to: SIMD2<UInt64>.self)
            if stops[0] | stops[1] != 0 { break }
            position += 16
        }
        while position + 16 <= buffer.count {
            let first = notPlain(UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt64.self)))
            let second = notPlain(
                UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: position + 8, as: UInt64.self)))
            // The lowest flag of a word is exact (notPlain), so the stop is the very byte, not its word.
            if first != 0 { return position + first.trailingZeroBitCount / 8 }
            if second != 0 { return position + 8 + second.trailingZeroBitCount / 8 }
            position += 16
        }
        while position + 8 <= buffer.count {
            let word = notPlain(UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt64.self)))
            if word != 0 { return position + word.trailingZeroBitCount / 8 }
            position += 8
        }
        return position
    }

    /// High bits of the bytes of `word` below SP or equal to DEL, with false flags only above a true one.
    @inline(__always)
    private static func notPlain(_ word: UInt64) -> UInt64 {
        // Bytes below 0x20: subtracting 0x20 borrows into the high bit of exactly those whose own high bit is clear.
        let control = (word &- ones &* 0x20) & ~word & highBits
        return control | zeroBytes(word ^ (ones &* 0x7F))
    }
}

extension UnsafeRawBufferPointer {
    /// Case-insensitive comparison of an ASCII range against a lowercase literal. A literal of eight bytes or more
    /// (most field names authgate looks for) is compared a word at a time, the last word overlapping the one
    /// before it, so no byte is compared alone; shorter ones byte by byte.
    @inline(__always)
    package func equalsLowercase(_ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        let count = lowercase.utf8CodeUnitCount
        guard range.count == count else { return false }
        let literal = UnsafeRawPointer(lowercase.utf8Start)
        if count >= 8 {
            var offset = 0
            while true {
                let word = UInt64(
                    littleEndian: loadUnaligned(fromByteOffset: range.lowerBound + offset, as: UInt64.self))
                let expected = UInt64(littleEndian: literal.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                if word | WordScan.caseBits(ofLowercase: expected) != expected { return false }
                if offset + 8 == count { return true }
                offset = Swift.min(offset + 8, count - 8)
            }
        }
        var index = 0
        for position in range {
            if ByteClass.lowercased(self[position]) != literal.load(fromByteOffset: index, as: UInt8.self) {
                return false
            }
            index += 1
        }
        return true
    }
}

/// RFC 9110 syntax checked on text that does not come off the wire: the configuration's methods and field names.
package enum FieldSyntax {
    /// A token (RFC 9110 §5.6.2): what a method and a field name are made of.
    package static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(ByteClass.isToken)
    }
}
