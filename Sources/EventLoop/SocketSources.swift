import Dispatch

/// The read and write Dispatch sources of one socket, made when first wanted, suspended when not, and
/// Dispatch's rule kept in one place: the descriptor is closed only once every source's cancel handler ran.
/// Loop-confined, like the connection that owns it.
final class SocketSources {
    let fd: Int32
    private let queue: DispatchQueue
    private let onReadable: () -> Void
    private let onWritable: () -> Void
    private var read: (any DispatchSourceRead)?
    private var write: (any DispatchSourceWrite)?
    private(set) var isReading = false
    private(set) var isWriting = false
    private var live = 0
    private var cancelled = false

    /// The handlers must not keep the connection alive: capture it unowned.
    init(fd: Int32, queue: DispatchQueue, onReadable: @escaping () -> Void, onWritable: @escaping () -> Void) {
        self.fd = fd
        self.queue = queue
        self.onReadable = onReadable
        self.onWritable = onWritable
    }

    func setReading(_ enabled: Bool) {
        guard !cancelled, enabled != isReading else { return }
        isReading = enabled
        if read == nil {
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler(handler: onReadable)
            source.setCancelHandler { [self] in sourceCancelled() }
            read = source
            live += 1
            // A new source starts suspended: resuming it is enabling it.
            if enabled { source.resume() }
            return
        }
        if enabled { read?.resume() } else { read?.suspend() }
    }

    func setWriting(_ enabled: Bool) {
        guard !cancelled, enabled != isWriting else { return }
        isWriting = enabled
        if write == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler(handler: onWritable)
            source.setCancelHandler { [self] in sourceCancelled() }
            write = source
            live += 1
            if enabled { source.resume() }
            return
        }
        if enabled { write?.resume() } else { write?.suspend() }
    }

    /// Cancels both sources; the descriptor is closed when the last cancel handler has run.
    func cancelAndClose() {
        guard !cancelled else { return }
        cancelled = true
        // A suspended source never runs its cancel handler: resume it first.
        if let read {
            if !isReading { read.resume() }
            read.cancel()
        }
        if let write {
            if !isWriting { write.resume() }
            write.cancel()
        }
        if live == 0 { Syscall.close(fd) }
    }

    private func sourceCancelled() {
        live -= 1
        if live == 0 { Syscall.close(fd) }
    }
}
