internal import CSystem
import Endpoints

#if canImport(Glibc)
    import Glibc
#endif

/// The socket under a `RedisConnection`: a unix socket, or TCP to the first address a host name resolves to
/// (getaddrinfo blocks: it runs on the connection's own queue, never a loop), non-blocking, its connect under way.
enum RedisSocket {
    static func connect(_ address: RedisURL.Address) throws(RedisError) -> Int32 {
        switch address {
        case .unix(let path):
            var storage = sockaddr_un()
            storage.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &storage.sun_path) { bytes in
                // Checked to fit when the configuration was read; the last byte stays NUL.
                for (index, byte) in path.utf8.prefix(bytes.count - 1).enumerated() { bytes[index] = byte }
            }
            return try withUnsafePointer(to: &storage) { pointer throws(RedisError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(RedisError) in
                    try connect(family: AF_UNIX, address, socklen_t(MemoryLayout<sockaddr_un>.size), "unix:\(path)")
                }
            }
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_NUMERICSERV
            var found: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host.description, String(port), &hints, &found)
            guard status == 0, let first = found, let address = first.pointee.ai_addr else {
                if found != nil { freeaddrinfo(found) }
                throw RedisError(.connect, "\(host): \(String(cString: gai_strerror(status)))")
            }
            defer { freeaddrinfo(found) }
            let fd = try connect(
                family: first.pointee.ai_family, address, first.pointee.ai_addrlen, "\(host.uriText):\(port)")
            var on: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
    }

    /// A non-blocking connect: done, or under way (the write source says when).
    private static func connect(family: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t, _ name: String)
        throws(RedisError) -> Int32
    {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisError(.connect, "\(name): socket: \(String(cString: strerror(errno)))") }
        guard csystem_set_nonblocking_cloexec(fd) == 0 else {
            _ = Glibc.close(fd)
            throw RedisError(.connect, "\(name): fcntl failed")
        }
        if Glibc.connect(fd, address, length) != 0 && errno != EINPROGRESS && errno != EINTR {
            let reason = String(cString: strerror(errno))
            _ = Glibc.close(fd)
            throw RedisError(.connect, "\(name): \(reason)")
        }
        return fd
    }

}
