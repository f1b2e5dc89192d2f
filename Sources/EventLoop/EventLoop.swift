package import Dispatch
package import Encoding
import Time

#if canImport(Glibc)
    import Glibc
#endif

/// One serial Dispatch queue that owns an epoll set with its sockets, its connections and their deadlines.
/// One Dispatch source on the epoll descriptor wakes the queue, which then drains every ready event in
/// batches: a request costs no Dispatch source of its own (SPEC.md "Stack").
/// Everything on a loop runs on its queue: no locks, no thread per connection.
package final class EventLoop: @unchecked Sendable {
    package let queue: DispatchQueue
    package let index: Int
    /// Read buffer shared by every connection of the loop: only leftovers are copied per connection.
    let scratch: UnsafeMutableRawBufferPointer
    /// The Date header and log timestamps, made once per second for this loop.
    var clock = SystemClock()
    private var connections: [ObjectIdentifier: ClientConnection] = [:]
    private var sweepTimer: (any DispatchSourceTimer)?
    private let output = ByteWriter(capacity: 4096)
    private var outputFlushScheduled = false
    let readiness = ReadinessSet()
    private var wakeSource: (any DispatchSourceRead)?
    /// Work for after the current event (a read that resumes, a notification that must not re-enter its caller).
    private var soon: [() -> Void] = []
    /// The tasks of `soon` being run; the two lists trade places so that neither is allocated again.
    private var running: [() -> Void] = []
    private var soonScheduled = false
    /// Channels holding output for the end of the event (`SocketChannel.writeSoon`): kept apart from `soon`
    /// because a closure per write would be allocated on every exchange, twice.
    private var pendingFlushes: [SocketChannel] = []
    private var flushing: [SocketChannel] = []
    /// Emptied outbound buffers, kept with their capacity for the next answer on this loop instead of being
    /// freed and allocated again on every exchange. Bounded in count and size: idle connections still hold none.
    private var spareBuffers: [[UInt8]] = []
    private static let spareBufferLimit = 64
    private static let spareBufferMaxCapacity = 64 * 1024
    /// Writers lent for one head at a time; a few suffice, since a head is written and sent in one go.
    private var spareWriters: [ByteWriter] = []
    private var delivering = false
    /// Rounds of ready events one wake-up delivers before other work on the queue (timers) gets its turn.
    private static let roundsPerWakeUp = 16

    private static let identityKey = DispatchSpecificKey<UInt64>()
    private let identity = UInt64.random(in: 1...UInt64.max)

    init(index: Int) {
        self.index = index
        self.queue = DispatchQueue(label: "authgate.loop.\(index)")
        queue.setSpecific(key: Self.identityKey, value: identity)
        self.scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        let source = DispatchSource.makeReadSource(fileDescriptor: readiness.epollFD, queue: queue)
        source.setEventHandler { [unowned self] in deliverEvents() }
        source.resume()
        wakeSource = source
    }

    deinit {
        scratch.deallocate()
    }

    /// Whether the caller runs on this loop's queue.
    package var isCurrent: Bool {
        DispatchQueue.getSpecific(key: Self.identityKey) == identity
    }

    /// Runs `body` on the loop: at once if already there, else queued.
    package func execute(_ body: @escaping @Sendable () -> Void) {
        if isCurrent { body() } else { queue.async(execute: body) }
    }

    package func assertOnLoop() {
        dispatchPrecondition(condition: .onQueue(queue))
    }

    package var connectionCount: Int {
        assertOnLoop()
        return connections.count
    }

    /// Drains the epoll set: batch after batch, each followed by the work it made, until no event is left.
    private func deliverEvents() {
        delivering = true
        var exhausted = false
        for _ in 0..<Self.roundsPerWakeUp {
            let delivered = readiness.deliverReadyEvents()
            runSoonTasks()
            if delivered == 0 {
                exhausted = true
                break
            }
        }
        delivering = false
        // Events left after the last round: come back after the queue's other work instead of starving it.
        if !exhausted { queue.async { [unowned self] in deliverEvents() } }
    }

    /// Runs `task` on the loop after the current event, before the loop waits again.
    func runSoon(_ task: @escaping () -> Void) {
        soon.append(task)
        scheduleSoonWork()
    }

    /// Flushes `channel`'s held output after the current event, as `runSoon` would, without a closure.
    func flushSoon(_ channel: SocketChannel) {
        pendingFlushes.append(channel)
        scheduleSoonWork()
    }

    private func scheduleSoonWork() {
        guard !delivering && !soonScheduled else { return }
        soonScheduled = true
        queue.async { [unowned self] in
            soonScheduled = false
            runSoonTasks()
        }
    }

    private func runSoonTasks() {
        while !soon.isEmpty || !pendingFlushes.isEmpty {
            swap(&flushing, &pendingFlushes)
            for channel in flushing { channel.flushHeld() }
            flushing.removeAll(keepingCapacity: true)
            swap(&running, &soon)
            for task in running { task() }
            running.removeAll(keepingCapacity: true)
        }
    }

    /// A buffer for output, empty, with the capacity of one given back earlier when there is one.
    func takeBuffer() -> [UInt8] {
        spareBuffers.popLast() ?? []
    }

    /// Takes back an output buffer that is done with; its bytes are dropped.
    func giveBack(_ buffer: inout [UInt8]) {
        if spareBuffers.count < Self.spareBufferLimit, buffer.capacity > 0,
            buffer.capacity <= Self.spareBufferMaxCapacity
        {
            buffer.removeAll(keepingCapacity: true)
            spareBuffers.append(buffer)
        }
        buffer = []
    }

    /// A writer for a head that is sent as soon as it is written, then given back: no allocation per head.
    package func takeWriter() -> ByteWriter {
        spareWriters.popLast() ?? ByteWriter(capacity: 4096)
    }

    package func giveBack(_ writer: ByteWriter) {
        guard spareWriters.count < 8 else { return }
        writer.removeAll(keepingAtMost: Self.spareBufferMaxCapacity)
        spareWriters.append(writer)
    }

    func register(_ connection: ClientConnection) {
        connections[ObjectIdentifier(connection)] = connection
    }

    func unregister(_ connection: ClientConnection) {
        connections.removeValue(forKey: ObjectIdentifier(connection))
    }

    /// Starts the deadline sweep: one timer per loop instead of one per connection.
    package func startSweeping(every interval: DispatchTimeInterval) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(10))
        timer.setEventHandler { [unowned self] in
            self.sweep()
        }
        timer.resume()
        sweepTimer = timer
    }

    private func sweep() {
        let now = SystemClock.coarseMonotonicNanoseconds()
        for connection in connections.values where connection.deadline != 0 && now >= connection.deadline {
            connection.deadlineExpired()
        }
    }

    /// Calls `body` with every open connection of this loop (on the loop).
    package func forEachConnection(_ body: (ClientConnection) -> Void) {
        assertOnLoop()
        for connection in Array(connections.values) { body(connection) }
    }

    /// Appends a line to the loop's stdout buffer; it is written once the current burst of events is done.
    package func writeOutputLine(_ line: String) {
        writeOutputLine { $0.append(line) }
    }

    /// Appends a line that `write` puts into the buffer as bytes, with the same flushing as `writeOutputLine`.
    package func writeOutputLine(_ write: (ByteWriter) -> Void) {
        write(output)
        output.append(10)
        if output.count >= 32 * 1024 {
            flushOutput()
        } else if !outputFlushScheduled {
            outputFlushScheduled = true
            queue.async { [unowned self] in self.flushOutput() }
        }
    }

    package func flushOutput() {
        outputFlushScheduled = false
        guard output.count > 0 else { return }
        output.withBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(1, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                // stdout gone or full: drop the rest rather than stall the loop.
                if written <= 0 { break }
                offset += written
            }
        }
        output.removeAll(keepingAtMost: 256 * 1024)
    }

    package func httpDate() -> String { clock.httpDate() }
    package func iso8601Now() -> String { clock.iso8601() }
    package func appendISO8601Now(to out: ByteWriter) { clock.appendISO8601(to: out) }
}

/// The loops of the process, one per core by default.
package final class EventLoopGroup: Sendable {
    package let loops: [EventLoop]

    package init(count: Int) {
        precondition(count > 0)
        loops = (0..<count).map { EventLoop(index: $0) }
    }

    package static var coreCount: Int {
        let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return count > 0 ? Int(count) : 1
    }
}
