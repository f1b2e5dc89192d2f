/// Bytes written piece by piece, one copy each: the heads authgate sends and the access line. Appending to an
/// `[UInt8]` costs about a hundred instructions a call (`append(contentsOf:)` is generic over the sequence and
/// checks the buffer's uniqueness), and a proxied request writes some sixty pieces (callgrind, 2026-12-02): here a
/// piece costs a comparison and a `memcpy`. A class, so that a loop can keep a few and lend them out instead of
/// allocating one per head (`EventLoop.takeWriter`).
///
/// Public, not package, for one reason: Swift 6.3 inlines `@inlinable` bodies across modules only for public
/// declarations, and these appends are worth inlining into every writer of a head (measured: 3k instructions a
/// request).
public final class ByteWriter {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    @usableFromInline var written = 0

    public init(capacity: Int = 512) {
        self.capacity = Swift.max(capacity, 64)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit {
        base.deallocate()
    }

    /// How many bytes were written.
    @inlinable public var count: Int { written }

    @inlinable @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        let length = bytes.count
        if capacity - written < length { grow(length) }
        (base + written).copyMemory(from: source, byteCount: length)
        written += length
    }

    @inlinable @inline(__always)
    public func append(_ byte: UInt8) {
        if capacity == written { grow(1) }
        base.storeBytes(of: byte, toByteOffset: written, as: UInt8.self)
        written += 1
    }

    @inlinable @inline(__always)
    public func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inlinable @inline(__always)
    public func append(_ text: String) {
        text.withUTF8Bytes { append($0) }
    }

    @inlinable @inline(__always)
    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The bytes written so far, without a copy; valid only inside `body`.
    @inlinable
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: written))
    }

    /// The bytes written, as an array of their own.
    public func finish() -> [UInt8] {
        withBytes { Array($0) }
    }

    /// Forgets what was written and keeps the room, unless it grew past `limit` bytes.
    public func removeAll(keepingAtMost limit: Int) {
        written = 0
        guard capacity > limit else { return }
        base.deallocate()
        capacity = Swift.max(limit, 64)
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    @usableFromInline @inline(never)
    func grow(_ length: Int) {
        let needed = Swift.max(written + length, capacity * 2)
        let larger = UnsafeMutableRawPointer.allocate(byteCount: needed, alignment: 16)
        larger.copyMemory(from: base, byteCount: written)
        base.deallocate()
        base = larger
        capacity = needed
    }
}

extension String {
    /// The string's UTF-8 bytes, valid during the call: a native or small string's read where they are, and only
    /// another's through `withUTF8`, whose mutable copy costs a retain and a release of a heap string each time
    /// (the request path writes a dozen strings a request).
    @inlinable @inline(__always)
    public func withUTF8Bytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        if let result = utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return result }
        var copy = self
        return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}
