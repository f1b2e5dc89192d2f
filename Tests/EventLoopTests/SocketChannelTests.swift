import Dispatch
import Synchronization
import Testing

@testable import EventLoop

#if canImport(Glibc)
    import Glibc
#endif

/// Records what a channel tells its handler, on the loop; tests wait for an event, never for a time.
private final class RecordingHandler: ChannelHandler, @unchecked Sendable {
    private let events = Mutex<[String]>([])
    private let received = Mutex<[UInt8]>([])
    private let signal = DispatchSemaphore(value: 0)
    var onRead: ((UnsafeRawBufferPointer) -> Void)?

    func channelActive() { note("active") }
    func channelRead(_ bytes: UnsafeRawBufferPointer) {
        received.withLock { $0 += bytes }
        onRead?(bytes)
        note("read")
    }
    func channelReadEOF() { note("eof") }
    func channelDrained() { note("drained") }
    func channelFailed(_ error: ChannelError) { note("failed") }

    private func note(_ event: String) {
        events.withLock { $0.append(event) }
        signal.signal()
    }

    var bytes: [UInt8] { received.withLock { $0 } }
    var log: [String] { events.withLock { $0 } }

    /// Waits until `predicate` holds; false if it never does within a generous bound (a hang, not a timing).
    func wait(until predicate: (RecordingHandler) -> Bool) -> Bool {
        for _ in 0..<500 {
            if predicate(self) { return true }
            _ = signal.wait(timeout: .now() + .milliseconds(20))
        }
        return predicate(self)
    }
}

/// Counts the readiness events its registration delivers.
private final class RecordingSelectable: Selectable {
    var events: [Readiness] = []
    var onEvent: (() -> Void)?

    func handleEvent(_ readiness: Readiness) {
        events.append(readiness)
        onEvent?()
    }
}

/// A connected pair of stream sockets: the channel takes one end, the test plays the peer on the other.
private func socketPair() throws -> (channelEnd: Int32, peer: Int32) {
    var fds: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
        throw SystemError(call: "socketpair", errno: errno)
    }
    try Syscall.setNonBlocking(fds[0])
    return (fds[0], fds[1])
}

private func peerWrite(_ fd: Int32, _ text: String) {
    _ = text.utf8CString.withUnsafeBytes { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
}

private func peerReadAll(_ fd: Int32, expecting count: Int) -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while out.count < count {
        let got = recv(fd, &buffer, buffer.count, 0)
        if got <= 0 { break }
        out += buffer[0..<got]
    }
    return out
}

@Suite struct SocketChannelTests {
    /// One loop for every test, alive for the whole run as a server's loops are: a loop made per test died with
    /// its test while work it had queued (a flush, an event of a channel still open) still named it.
    static let sharedLoop = EventLoopGroup(count: 1).loops[0]
    var loop: EventLoop { Self.sharedLoop }

    private func makeChannel(_ fd: Int32, handler: RecordingHandler) throws -> SocketChannel {
        try loop.queue.sync {
            let channel = try SocketChannel(fd: fd, loop: loop, tls: nil, connecting: false)
            channel.start(handler: handler)
            return channel
        }
    }

    @Test func bytesFromThePeerAreReadAndWritesReachIt() throws {
        let (end, peer) = try socketPair()
        defer { close(peer) }
        let handler = RecordingHandler()
        let channel = try makeChannel(end, handler: handler)
        #expect(handler.wait { $0.log.contains("active") })
        peerWrite(peer, "hello")
        #expect(handler.wait { $0.bytes == Array("hello".utf8) })
        loop.queue.sync { channel.write(Array("world".utf8)) }
        #expect(peerReadAll(peer, expecting: 5) == Array("world".utf8))
        loop.queue.sync { channel.close() }
    }

    @Test func pausedReadingHoldsBytesUntilResumedThoughNoNewEdgeComes() throws {
        let (end, peer) = try socketPair()
        defer { close(peer) }
        let handler = RecordingHandler()
        let channel = try makeChannel(end, handler: handler)
        #expect(handler.wait { $0.log.contains("active") })
        loop.queue.sync { channel.setReading(false) }
        peerWrite(peer, "held")
        // The edge for these bytes is delivered while reading is paused; a marker read after it proves the
        // loop has processed that edge.
        let marker = try socketPair()
        defer { close(marker.peer) }
        let markerHandler = RecordingHandler()
        let markerChannel = try makeChannel(marker.channelEnd, handler: markerHandler)
        peerWrite(marker.peer, "m")
        #expect(markerHandler.wait { !$0.bytes.isEmpty })
        #expect(handler.bytes.isEmpty, "nothing is read while paused")
        loop.queue.sync { channel.setReading(true) }
        #expect(handler.wait { $0.bytes == Array("held".utf8) })
        loop.queue.sync {
            channel.close()
            markerChannel.close()
        }
    }

    @Test func aFullSocketQueuesOutputAndTellsWhenItDrained() throws {
        let (end, peer) = try socketPair()
        defer { close(peer) }
        let handler = RecordingHandler()
        let channel = try makeChannel(end, handler: handler)
        let big = [UInt8](repeating: 0x61, count: 4 * 1024 * 1024)
        let queued = loop.queue.sync {
            channel.write(big)
            return channel.hasPendingOutput
        }
        #expect(queued, "a peer that does not read leaves output queued")
        #expect(peerReadAll(peer, expecting: big.count).count == big.count)
        #expect(handler.wait { $0.log.contains("drained") })
        #expect(loop.queue.sync { !channel.hasPendingOutput })
        loop.queue.sync { channel.close() }
    }

    @Test func thePeersEndIsToldOnce() throws {
        let (end, peer) = try socketPair()
        let handler = RecordingHandler()
        let channel = try makeChannel(end, handler: handler)
        peerWrite(peer, "last")
        shutdown(peer, Int32(SHUT_WR))
        #expect(handler.wait { $0.log.contains("eof") })
        #expect(handler.bytes == Array("last".utf8))
        close(peer)
        // Further events on the dead socket do not repeat the end.
        loop.queue.sync { channel.write(Array("x".utf8)) }
        #expect(handler.wait { $0.log.contains("failed") }, "writing to a closed peer fails the channel")
        #expect(handler.log.filter { $0 == "eof" }.count == 1)
        #expect(loop.queue.sync { channel.isClosed })
    }

    @Test func anEndThatArrivesWithTheLastBytesIsToldThoughTheReadWasShort() throws {
        let (end, peer) = try socketPair()
        defer { close(peer) }
        let handler = RecordingHandler()
        let channel = try makeChannel(end, handler: handler)
        #expect(handler.wait { $0.log.contains("active") })
        loop.queue.sync {
            // Bytes and the end become ready before the loop looks: one edge announces both.
            peerWrite(peer, "PUT / HTTP/1.1\r\n")
            shutdown(peer, Int32(SHUT_WR))
        }
        #expect(handler.wait { $0.log.contains("eof") }, "the end behind a short read is read too")
        #expect(handler.bytes == Array("PUT / HTTP/1.1\r\n".utf8))
        loop.queue.sync { channel.close() }
    }

    @Test func aWriteThatFailsIsToldAfterTheWriterReturns() throws {
        let (end, peer) = try socketPair()
        let handler = RecordingHandler()
        let channel = try makeChannel(end, handler: handler)
        #expect(handler.wait { $0.log.contains("active") })
        close(peer)
        let toldDuringWrite = loop.queue.sync {
            channel.write(Array("x".utf8))
            return handler.log.contains("failed")
        }
        #expect(!toldDuringWrite)
        #expect(handler.wait { $0.log.contains("failed") })
    }

    @Test func anEventFetchedForARemovedSocketDoesNotReachTheSocketThatTookItsPlace() throws {
        // A set of its own, drained by hand: both events are fetched in one batch.
        let set = ReadinessSet()
        let first = try socketPair()
        let second = try socketPair()
        let third = try socketPair()
        defer {
            for fd in [first, second, third].flatMap({ [$0.peer, $0.channelEnd] }) { close(fd) }
        }
        let firstOwner = RecordingSelectable()
        let secondOwner = RecordingSelectable()
        let thirdOwner = RecordingSelectable()
        let firstRegistration = try set.register(first.channelEnd, owner: firstOwner)
        let secondRegistration = try set.register(second.channelEnd, owner: secondOwner)
        peerWrite(first.peer, "a")
        peerWrite(second.peer, "b")
        // Whichever is delivered first removes the other and registers a new socket, which takes the freed slot.
        let replace = { (other: Registration) in
            firstOwner.onEvent = nil
            secondOwner.onEvent = nil
            set.deregister(other)
            _ = try? set.register(third.channelEnd, owner: thirdOwner)
        }
        firstOwner.onEvent = { replace(secondRegistration) }
        secondOwner.onEvent = { replace(firstRegistration) }
        #expect(set.deliverReadyEvents() == 2)
        #expect(firstOwner.events.count + secondOwner.events.count == 1, "the removed one heard nothing")
        #expect(!thirdOwner.events.contains { $0.contains(.readable) }, "the removed socket's event went nowhere")
        // The new socket hears its own events from the next batch on.
        peerWrite(third.peer, "c")
        _ = set.deliverReadyEvents()
        #expect(thirdOwner.events.contains { $0.contains(.readable) })
    }

    @Test func closingFreesTheDescriptorAndTheRegistrationAtOnce() throws {
        let (end, peer) = try socketPair()
        defer { close(peer) }
        let handler = RecordingHandler()
        // Counted in one turn of the loop's queue: the loop is shared, and another test's channel may open or
        // close between two turns.
        let (before, open, closed) = try loop.queue.sync { () throws -> (Int, Int, Int) in
            let before = loop.readiness.registeredCount
            let channel = try SocketChannel(fd: end, loop: loop, tls: nil, connecting: false)
            channel.start(handler: handler)
            let open = loop.readiness.registeredCount
            channel.close()
            return (before, open, loop.readiness.registeredCount)
        }
        #expect(open == before + 1)
        #expect(closed == before)
        #expect(fcntl(end, F_GETFD) == -1 && errno == EBADF, "the descriptor is closed in the same step")
    }
}
