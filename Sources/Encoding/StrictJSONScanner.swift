/// Names of the members a caller wants from a JSON object, matched against keys as bytes.
package struct JSONMemberNames: Sendable {
    let names: [[UInt8]]
    let hashes: [UInt64]
    /// Bit `hash & 63` of each name: a key whose bit is clear is none of them, known without a loop.
    let hashBits: UInt64

    /// Matching bytes is what Swift's String equality (StrictJSON's dictionaries) does only for names that no
    /// other text is canonically equivalent to: ASCII without "K", ";" and "`", which U+212A KELVIN SIGN,
    /// U+037E GREEK QUESTION MARK and U+1FEF GREEK VARIA decompose to.
    package init(_ names: [String]) {
        for name in names {
            precondition(
                name.utf8.allSatisfy { $0 < 0x80 && !Array("K;`".utf8).contains($0) },
                "member name \(name) could equal a key of other bytes")
        }
        self.names = names.map { Array($0.utf8) }
        hashes = self.names.map { $0.withUnsafeBytes(KeyHash.of) }
        hashBits = hashes.reduce(0) { $0 | 1 << ($1 & 63) }
    }

    package var count: Int { names.count }

    func index(of key: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        guard hashBits & 1 << (hash & 63) != 0 else { return nil }
        for index in hashes.indices where hashes[index] == hash && names[index].elementsEqual(key) {
            return index
        }
        return nil
    }
}

/// FNV-1a over a key's bytes: keys of one object are told apart by it before their bytes are compared.
enum KeyHash {
    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01B3 }
        return hash
    }
}

/// Checks a JSON text exactly as `StrictJSON.parse` does (the same refusals: duplicate keys at any depth, as
/// Swift's String equality sees them, lone surrogates, bad UTF-8, leading zeros, trailing bytes, the depth
/// limit) without building a tree, and points at the members of its top-level object that the caller names.
/// Nothing is allocated for a text whose keys are plain ASCII and at most 32 deep in open objects together.
package struct StrictJSONScanner {
    private struct Key {
        let range: Range<Int>
        let hash: UInt64
    }

    /// The keys of one object so far, to refuse a second one with the same text.
    private struct ObjectKeys {
        /// Where the object's keys start in the shared key stack.
        let base: Int
        /// Bits of the keys' hashes seen: a key whose bit is clear is new without comparing anything.
        var seenBits: UInt64 = 0
        /// Once a key has an escape or a byte above 0x7F, or the stack is full: the keys as Swift strings,
        /// compared as StrictJSON's dictionary compares them (canonical equivalence, "é" and "e\u{301}" alike).
        var strings: Set<String>?
    }

    private static let keyCapacity = 32

    private var cursor: JSONCursor
    private let maxDepth: Int
    /// The keys of every object still open, innermost last.
    private let keys: UnsafeMutableBufferPointer<Key>
    private var keyCount = 0

    private init(_ text: UnsafeRawBufferPointer, maxDepth: Int, keys: UnsafeMutableBufferPointer<Key>) {
        cursor = JSONCursor(text)
        self.maxDepth = maxDepth
        self.keys = keys
    }

    /// Checks all of `text` and calls `member` with the index in `names` and the value of each top-level
    /// member named there. Returns false when the text is valid JSON but not an object. When it throws,
    /// whatever `member` was told must be dropped.
    package static func scanObject(
        _ text: UnsafeRawBufferPointer, maxDepth: Int, names: JSONMemberNames,
        member: (_ name: Int, _ value: JSONSpan) -> Void
    ) throws(StrictJSON.ParseError) -> Bool {
        try withUnsafeTemporaryAllocation(of: Key.self, capacity: keyCapacity) { keys throws(StrictJSON.ParseError) in
            var scanner = StrictJSONScanner(text, maxDepth: maxDepth, keys: keys)
            scanner.cursor.skipWhitespace()
            let value = try scanner.value(depth: 0, names: names, member: member)
            scanner.cursor.skipWhitespace()
            guard scanner.cursor.position == text.count else { throw scanner.cursor.error(.syntax, "trailing bytes") }
            return value.kind == .object
        }
    }

    /// Calls `body` with each element of `array`, a span that a scan of `text` returned.
    package static func forEachElement(
        of array: JSONSpan, in text: UnsafeRawBufferPointer, _ body: (JSONSpan) -> Void
    ) throws(StrictJSON.ParseError) {
        precondition(array.kind == .array, "not an array span")
        try withUnsafeTemporaryAllocation(of: Key.self, capacity: keyCapacity) { keys throws(StrictJSON.ParseError) in
            // The depth was checked by the scan that found the array.
            var scanner = StrictJSONScanner(text, maxDepth: .max / 2, keys: keys)
            scanner.cursor.position = array.range.lowerBound + 1
            scanner.cursor.skipWhitespace()
            if scanner.cursor.peek() == UInt8(ascii: "]") { return }
            while true {
                scanner.cursor.skipWhitespace()
                body(try scanner.value(depth: 0, names: nil) { _, _ in })
                scanner.cursor.skipWhitespace()
                guard scanner.cursor.peek() == UInt8(ascii: ",") else { return }
                scanner.cursor.position += 1
            }
        }
    }

    /// The UTF-8 of a string span's text, escapes resolved, handed to `body` (in place when it has no escape).
    package static func withStringBytes<Result>(
        _ span: JSONSpan, in text: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Result
    ) -> Result {
        precondition(span.kind == .string, "not a string span")
        if span.isVerbatim { return body(UnsafeRawBufferPointer(rebasing: text[span.range])) }
        return JSONCursor.unescaped(span, in: text).withUnsafeBytes(body)
    }

    /// A string span's text, as `StrictJSON.parse` would give it.
    package static func string(_ span: JSONSpan, in text: UnsafeRawBufferPointer) -> String {
        withStringBytes(span, in: text) { String(decoding: $0, as: UTF8.self) }
    }

    /// A number span's value, as `StrictJSON.parse` would give it (the scan refused numbers Double cannot hold).
    package static func number(_ span: JSONSpan, in text: UnsafeRawBufferPointer) -> Double {
        precondition(span.kind == .number, "not a number span")
        return JSONCursor.number(span, in: text) ?? .nan
    }

    private mutating func value(
        depth: Int, names: JSONMemberNames?, member: (Int, JSONSpan) -> Void
    ) throws(StrictJSON.ParseError) -> JSONSpan {
        guard depth <= maxDepth else { throw cursor.error(.tooDeep, "nested too deeply") }
        guard let byte = cursor.peek() else { throw cursor.error(.truncated, "unexpected end") }
        let start = cursor.position
        switch byte {
        case UInt8(ascii: "{"):
            try object(depth: depth, names: names, member: member)
            return JSONSpan(.object, start..<cursor.position)
        case UInt8(ascii: "["):
            try array(depth: depth)
            return JSONSpan(.array, start..<cursor.position)
        case UInt8(ascii: "\""):
            return try cursor.scanString()
        case UInt8(ascii: "t"):
            try cursor.expect("true")
            return JSONSpan(.bool, start..<cursor.position)
        case UInt8(ascii: "f"):
            try cursor.expect("false")
            return JSONSpan(.bool, start..<cursor.position)
        case UInt8(ascii: "n"):
            try cursor.expect("null")
            return JSONSpan(.null, start..<cursor.position)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try cursor.scanNumber().span
        default:
            throw cursor.error(.syntax, "unexpected byte")
        }
    }

    private mutating func array(depth: Int) throws(StrictJSON.ParseError) {
        cursor.position += 1
        cursor.skipWhitespace()
        if cursor.peek() == UInt8(ascii: "]") {
            cursor.position += 1
            return
        }
        while true {
            cursor.skipWhitespace()
            _ = try value(depth: depth + 1, names: nil) { _, _ in }
            cursor.skipWhitespace()
            switch cursor.peek() {
            case UInt8(ascii: ","): cursor.position += 1
            case UInt8(ascii: "]"):
                cursor.position += 1
                return
            default: throw cursor.error(.syntax, "expected ',' or ']'")
            }
        }
    }

    private mutating func object(
        depth: Int, names: JSONMemberNames?, member: (Int, JSONSpan) -> Void
    ) throws(StrictJSON.ParseError) {
        cursor.position += 1
        var objectKeys = ObjectKeys(base: keyCount)
        // The object's keys leave the stack with it; its parent's stay below them.
        defer { keyCount = objectKeys.base }
        cursor.skipWhitespace()
        if cursor.peek() == UInt8(ascii: "}") {
            cursor.position += 1
            return
        }
        while true {
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: "\"") else { throw cursor.error(.syntax, "expected a member name") }
            let key = try cursor.scanString()
            cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: ":") else { throw cursor.error(.syntax, "expected ':'") }
            cursor.position += 1
            cursor.skipWhitespace()
            let value = try self.value(depth: depth + 1, names: nil, member: member)
            // After the value, as StrictJSON checks it: the same error for the same text.
            let name = try insert(key, into: &objectKeys, names: names)
            if let name { member(name, value) }
            cursor.skipWhitespace()
            switch cursor.peek() {
            case UInt8(ascii: ","): cursor.position += 1
            case UInt8(ascii: "}"):
                cursor.position += 1
                return
            default: throw cursor.error(.syntax, "expected ',' or '}'")
            }
        }
    }

    /// Adds `key` to its object's keys, refusing one already there; returns its index in `names`, if any.
    private mutating func insert(
        _ key: JSONSpan, into objectKeys: inout ObjectKeys, names: JSONMemberNames?
    ) throws(StrictJSON.ParseError) -> Int? {
        let text = cursor.bytes
        if objectKeys.strings == nil, key.isPlainASCII, keyCount < keys.count {
            // Two plain ASCII keys are equal strings exactly when their bytes are equal.
            let bytes = UnsafeRawBufferPointer(rebasing: text[key.range])
            let hash = KeyHash.of(bytes)
            let bit: UInt64 = 1 << (hash & 63)
            if objectKeys.seenBits & bit != 0 {
                for index in objectKeys.base..<keyCount where keys[index].hash == hash {
                    if UnsafeRawBufferPointer(rebasing: text[keys[index].range]).elementsEqual(bytes) {
                        throw cursor.error(
                            .duplicateMember, "duplicate member \"\(String(decoding: bytes, as: UTF8.self))\"")
                    }
                }
            }
            objectKeys.seenBits |= bit
            keys[keyCount] = Key(range: key.range, hash: hash)
            keyCount += 1
            return names?.index(of: bytes, hash: hash)
        }
        // Taken out while it grows, so that the set is not copied.
        var strings =
            objectKeys.strings.take()
            ?? Set(
                keys[objectKeys.base..<keyCount].map {
                    String(decoding: UnsafeRawBufferPointer(rebasing: text[$0.range]), as: UTF8.self)
                })
        let bytes = JSONCursor.unescaped(key, in: text)
        let string = String(decoding: bytes, as: UTF8.self)
        let isNew = strings.insert(string).inserted
        objectKeys.strings = strings
        guard isNew else { throw cursor.error(.duplicateMember, "duplicate member \"\(string)\"") }
        return bytes.withUnsafeBytes { names?.index(of: $0, hash: KeyHash.of($0)) }
    }
}
