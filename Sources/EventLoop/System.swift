internal import CSystem

#if canImport(Glibc)
    import Glibc
#endif

/// An errno captured at the call that failed, fit for a log line.
package struct SystemError: Error, Sendable, CustomStringConvertible {
    package let call: String
    package let errno: Int32

    package var description: String {
        "\(call): \(String(validatingCString: strerror(errno)) ?? "error") (errno \(errno))"
    }
}

/// The outcome of a non-blocking call: done with a count, or it would block.
package enum IOResult: Sendable, Equatable {
    case processed(Int)
    case wouldBlock
}

/// The one place that calls the kernel: retries EINTR and turns EAGAIN into a value.
package enum Syscall {
    @inline(__always)
    static func retrying(_ call: String, _ body: () -> Int) throws(SystemError) -> IOResult {
        while true {
            let result = body()
            if result >= 0 { return .processed(result) }
            let code = csystem_errno()
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw SystemError(call: call, errno: code)
        }
    }

    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult {
        try retrying("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult {
        // MSG_NOSIGNAL: a peer that went away must not raise SIGPIPE.
        try retrying("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes as much of `buffer` as the socket takes now; returns how many bytes went.
    static func writeAvailable(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        var offset = 0
        while offset < buffer.count {
            switch try write(fd, UnsafeRawBufferPointer(rebasing: buffer[offset...])) {
            case .processed(let count): offset += count
            case .wouldBlock: return offset
            }
        }
        return offset
    }

    static func accept(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr_storage>) throws(SystemError) -> IOResult {
        try retrying("accept4") {
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            return address.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                Int(csystem_accept4(fd, pointer, &length))
            }
        }
    }

    static func close(_ fd: Int32) {
        // Linux releases the descriptor even when close reports EINTR: never retry.
        _ = Glibc.close(fd)
    }

    static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    static func setNonBlocking(_ fd: Int32) throws(SystemError) {
        if csystem_set_nonblocking_cloexec(fd) < 0 { throw SystemError(call: "fcntl", errno: csystem_errno()) }
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }
}

/// Raises the soft open-file limit to the hard limit, as nginx's worker_rlimit_nofile and HAProxy do.
/// Returns the limit now in force.
@discardableResult
package func raiseOpenFileLimit() -> UInt64 {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
    }
    return UInt64(limit.rlim_cur)
}
