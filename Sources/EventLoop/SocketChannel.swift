internal import CSystem
import Cryptography

#if canImport(Glibc)
    import Glibc
#endif

/// What a channel tells the connection above it, on the loop. The channel never calls back into a method of
/// its handler that is still running: failures found while the handler writes are told after it returns.
protocol ChannelHandler: AnyObject {
    /// Connected, with the TLS handshake done: queued bytes are on their way.
    func channelActive()
    /// Bytes from the peer, valid only during the call.
    func channelRead(_ bytes: UnsafeRawBufferPointer)
    /// The peer will send nothing more; the channel stays open for writing.
    func channelReadEOF()
    /// Every queued byte has gone to the kernel.
    func channelDrained()
    /// The channel failed and is closed.
    func channelFailed(_ error: ChannelError)
}

/// Why a channel failed, fit for a log line.
package struct ChannelError: Error, Sendable, CustomStringConvertible {
    enum Code: Sendable {
        case system(SystemError)
        case tls(String)
        case tlsClosedDuringHandshake
    }

    let code: Code

    package var description: String {
        switch code {
        case .system(let error): return error.description
        case .tls(let reason): return "TLS: \(reason)"
        case .tlsClosedDuringHandshake: return "TLS handshake: the peer closed the connection"
        }
    }
}

/// One socket on its loop: the descriptor and its place in the epoll set, the plain or TLS transport
/// (connect, handshake, read, write, shutdown), and the outbound buffer that holds what the kernel would not
/// take yet. Every system call of a connection goes through here, and through `Syscall`. Loop-confined.
///
/// The socket is registered once, edge-triggered: the channel remembers that unread bytes may be waiting
/// (`readPending`) while its owner has reading paused, and reads them when reading resumes.
final class SocketChannel: Selectable {
    let fd: Int32
    /// Strong, as its connection's is: the loop lets go of the channel when it closes (an unowned reference costs an
    /// atomic check on every use).
    let loop: EventLoop
    /// Strong until the channel closes: a registered socket keeps its connection alive.
    private var handler: (any ChannelHandler)?
    private var registration: Registration?
    private let tls: TLSSession?

    private enum State {
        /// A non-blocking connect is under way: writable means done, SO_ERROR says how.
        case connecting
        case handshaking
        case active
        case closed
    }

    private var state: State
    private var readingEnabled = true
    /// An edge said bytes (or the end) arrived that were not read yet.
    private var readPending = false
    /// The peer's end was read: nothing more will come.
    private var inputEnded = false
    /// An event said the peer's end (or a reset) arrived: a short read no longer means the socket is empty, since
    /// the end still waits behind the bytes and no further edge will announce it.
    private var endAnnounced = false
    /// OpenSSL needs the socket writable before it can read on.
    private var readWaitsForWritable = false
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    /// Output held until the end of the current event, so that what follows it goes out in the same write.
    private var holding = false
    /// Reads one readiness event performs before the loop's other sockets get a turn.
    private static let readsPerEvent = 16

    /// Adopts an accepted or freshly connected socket and registers it with the loop.
    /// `connecting` is true while a non-blocking connect is still under way.
    init(fd: Int32, loop: EventLoop, tls: TLSSession?, connecting: Bool) throws(SystemError) {
        self.fd = fd
        self.loop = loop
        self.tls = tls
        if connecting {
            state = .connecting
        } else {
            state = tls == nil ? .active : .handshaking
        }
        registration = try loop.readiness.register(fd, owner: self)
    }

    /// Starts the channel: the handler hears `channelActive` once it is connected and through its handshake.
    /// Nothing is told before the caller returns.
    func start(handler: any ChannelHandler) {
        self.handler = handler
        loop.runSoon { [self] in
            switch state {
            case .active: becameActive()
            case .handshaking: stepHandshake()
            case .connecting, .closed: break
            }
        }
    }

    var isClosed: Bool { state == .closed }
    /// Bytes not yet taken by the kernel, held or refused.
    var hasPendingOutput: Bool { outboundOffset < outbound.count }
    /// Bytes the kernel refused: the writer should pause until `channelDrained`. Held bytes leave at the end of
    /// the event and do not count.
    var isBackedUp: Bool { hasPendingOutput && !holding }
    var hasInputEnded: Bool { inputEnded }

    // MARK: Events

    func handleEvent(_ readiness: Readiness) {
        switch state {
        case .closed:
            return
        case .connecting:
            if !readiness.isDisjoint(with: [.writable, .reset]) { connectFinished() }
        case .handshaking:
            stepHandshake()
        case .active:
            if readiness.contains(.reset), let error = pendingSocketError() {
                fail(.system(SystemError(call: "socket", errno: error)))
                return
            }
            if readiness.contains(.writable) {
                if hasPendingOutput { flush() }
                if readWaitsForWritable {
                    readWaitsForWritable = false
                    readPending = true
                }
            }
            if !readiness.isDisjoint(with: [.readEOF, .reset]) { endAnnounced = true }
            if !readiness.isDisjoint(with: [.readable, .readEOF, .reset]) { readPending = true }
            if readPending && readingEnabled && state == .active { readAvailable() }
        }
    }

    private func pendingSocketError() -> Int32? {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error == 0 ? nil : error
    }

    private func connectFinished() {
        if let error = pendingSocketError() {
            fail(.system(SystemError(call: "connect", errno: error)))
            return
        }
        guard tls == nil else {
            state = .handshaking
            stepHandshake()
            return
        }
        becameActive()
    }

    private func stepHandshake() {
        guard let tls else { return }
        switch tls.handshake() {
        case .done:
            becameActive()
        case .wantRead, .wantWrite:
            // Both interests stay registered: the next edge of either kind steps the handshake again.
            break
        case .closed:
            fail(.tlsClosedDuringHandshake)
        case .failed(let reason):
            fail(.tls(reason))
        }
    }

    private func becameActive() {
        state = .active
        handler?.channelActive()
        guard state == .active else { return }
        if hasPendingOutput { flush() }
        // The handshake may have pulled application bytes off the socket: no edge will announce them.
        readPending = true
        if readingEnabled && state == .active { readAvailable() }
    }

    // MARK: Reading

    /// Pauses or resumes reading. Resuming reads what arrived meanwhile, after the caller's current work.
    func setReading(_ enabled: Bool) {
        guard enabled != readingEnabled else { return }
        readingEnabled = enabled
        guard enabled, state == .active, readPending || (tls?.pendingBytes ?? 0) > 0 else { return }
        readPending = true
        loop.runSoon { [self] in
            if readingEnabled && readPending && state == .active { readAvailable() }
        }
    }

    private func readAvailable() {
        var reads = 0
        while state == .active && readingEnabled && readPending && !inputEnded {
            if reads == Self.readsPerEvent {
                loop.runSoon { [self] in
                    if readingEnabled && readPending && state == .active { readAvailable() }
                }
                return
            }
            reads += 1
            if let tls { readTLS(tls) } else { readPlain() }
        }
    }

    private func readPlain() {
        let result: IOResult
        do {
            result = try Syscall.read(fd, loop.scratch)
        } catch {
            fail(.system(error))
            return
        }
        switch result {
        case .wouldBlock:
            readPending = false
        case .processed(0):
            readPending = false
            inputEnded = true
            handler?.channelReadEOF()
        case .processed(let count):
            // A short read emptied the socket: the next arrival brings a new edge. Not so for an announced end.
            if count < loop.scratch.count && !endAnnounced { readPending = false }
            handler?.channelRead(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<count]))
        }
    }

    private func readTLS(_ tls: TLSSession) {
        let (count, progress) = tls.read(into: loop.scratch)
        if count > 0 {
            handler?.channelRead(UnsafeRawBufferPointer(rebasing: loop.scratch[0..<count]))
            return
        }
        switch progress {
        case .done, .wantRead:
            readPending = false
        case .wantWrite:
            readPending = false
            readWaitsForWritable = true
        case .closed:
            readPending = false
            inputEnded = true
            handler?.channelReadEOF()
        case .failed(let reason):
            fail(.tls(reason))
        }
    }

    // MARK: Writing

    /// Writes what the kernel takes now (with anything held) and queues the rest; `hasPendingOutput` tells the
    /// caller to hold back.
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard state != .closed, !bytes.isEmpty else { return }
        if holding {
            outbound.append(contentsOf: bytes)
            flush()
            return
        }
        guard state == .active, !hasPendingOutput else {
            outbound.append(contentsOf: bytes)
            return
        }
        guard let written = writeNow(bytes, duringCaller: true) else { return }
        if written < bytes.count {
            outbound.removeAll(keepingCapacity: true)
            outbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[written...]))
            outboundOffset = 0
        }
    }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Queues bytes to go out with the next write, or at the end of the current event: a response head and the
    /// body that arrives in the same read leave in one system call.
    func writeSoon(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeSoon($0) }
    }

    func writeSoon(_ bytes: UnsafeRawBufferPointer) {
        guard state != .closed, !bytes.isEmpty else { return }
        let idle = !hasPendingOutput
        if outbound.capacity == 0 { outbound = loop.takeBuffer() }
        outbound.append(contentsOf: bytes)
        guard state == .active, idle else { return }
        holding = true
        loop.flushSoon(self)
    }

    /// The end of the event that `writeSoon` waited for.
    func flushHeld() {
        if holding { flush() }
    }

    private func flush() {
        holding = false
        let written = outbound.withUnsafeBytes { raw in
            writeNow(UnsafeRawBufferPointer(rebasing: raw[outboundOffset...]), duringCaller: false)
        }
        guard let written else { return }
        outboundOffset += written
        guard outboundOffset == outbound.count else { return }
        // Given back: an idle connection holds no buffer.
        loop.giveBack(&outbound)
        outboundOffset = 0
        handler?.channelDrained()
    }

    /// Returns how many bytes the kernel took, or nil when the channel failed.
    private func writeNow(_ buffer: UnsafeRawBufferPointer, duringCaller: Bool) -> Int? {
        if let tls {
            var offset = 0
            while offset < buffer.count {
                let (count, progress) = tls.write(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                offset += count
                switch progress {
                case .done: continue
                case .wantRead, .wantWrite: return offset
                case .closed:
                    fail(.tls("the peer closed the connection"), toldLater: duringCaller)
                    return nil
                case .failed(let reason):
                    fail(.tls(reason), toldLater: duringCaller)
                    return nil
                }
            }
            return offset
        }
        do {
            return try Syscall.writeAvailable(fd, buffer)
        } catch {
            fail(.system(error), toldLater: duringCaller)
            return nil
        }
    }

    // MARK: Closing

    /// Sends TLS close_notify and the TCP FIN; reading goes on (a lingering close discards what still comes).
    func shutdownOutput() {
        guard state != .closed else { return }
        if holding { flush() }
        tls?.shutdown()
        Syscall.shutdownWrite(fd)
    }

    /// Leaves the epoll set and closes the descriptor, in one step on the loop: the number may be reused at once.
    func close() {
        guard state != .closed else { return }
        state = .closed
        if let registration { loop.readiness.deregister(registration) }
        registration = nil
        Syscall.close(fd)
        handler = nil
        outbound = []
        outboundOffset = 0
        holding = false
    }

    /// Closes, then tells the handler: at once from an event, after the caller's work from one of its writes.
    private func fail(_ code: ChannelError.Code, toldLater: Bool = false) {
        guard state != .closed, let handler else {
            close()
            return
        }
        close()
        let error = ChannelError(code: code)
        if toldLater {
            loop.runSoon { handler.channelFailed(error) }
        } else {
            handler.channelFailed(error)
        }
    }
}
