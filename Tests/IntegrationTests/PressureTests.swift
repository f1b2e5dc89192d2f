import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Limits that must hold under pressure: bounded memory per connection, no spinning when out of descriptors.
@Suite(.serialized) struct PressureTests {
    @Test func clientThatNeverReadsIsNoLongerReadFrom() throws {
        let gateway = try RunningGateway()
        let client = try RawClient(port: gateway.publicPort)
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let chunk = Array(repeating: request, count: 32 * 1024).flatMap { $0 }  // ~1 MiB of requests
        let cap = 64 * 1024 * 1024
        var sent = 0
        sending: while sent < cap {
            var offset = 0
            while offset < chunk.count {
                let count = chunk[offset...].withUnsafeBytes {
                    Glibc.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if count <= 0 { break sending }
                offset += count
                sent += count
            }
        }
        // Answers pile up in the kernel's buffers (a few MiB); then authgate stops reading, so sending blocks.
        #expect(sent < cap, "authgate kept reading \(sent) bytes of requests whose answers were never read")
        #expect(try RawClient(port: gateway.publicPort).exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
    }

    @Test func runningOutOfDescriptorsPausesAcceptingInsteadOfSpinning() throws {
        let gateway = try RunningGateway()
        let pid = gateway.process.processIdentifier
        let openNow = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        let limit = openNow + 2
        let prlimit = Process()
        prlimit.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        prlimit.arguments = ["--pid", "\(pid)", "--nofile=\(limit):\(limit)"]
        try prlimit.run()
        prlimit.waitUntilExit()
        try #require(prlimit.terminationStatus == 0)

        var clients: [RawClient] = []
        for _ in 0..<8 { clients.append(try RawClient(port: gateway.publicPort, timeoutSeconds: 1)) }
        usleep(200_000)
        let before = try cpuTicks(pid)
        sleep(1)
        let used = try cpuTicks(pid) - before
        // A loop spinning on a failing accept burns the whole second (100 ticks); pausing costs next to nothing.
        #expect(used < 30, "authgate used \(used) ticks of CPU in one second while out of descriptors")
        clients.removeAll()
        usleep(300_000)
        let fresh = try RawClient(port: gateway.publicPort, timeoutSeconds: 3)
        #expect(try fresh.exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
    }

    @Test func unixSocketFileIsRemovedOnExit() throws {
        let gateway = try RunningGateway(listenUnix: true)
        #expect(FileManager.default.fileExists(atPath: gateway.unixSocket))
        #expect(gateway.terminate() == 0)
        #expect(!FileManager.default.fileExists(atPath: gateway.unixSocket))
    }
}

/// User plus system CPU time of a process, in clock ticks (1/100 s on Linux).
private func cpuTicks(_ pid: Int32) throws -> Int {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // Fields after the command name, which is in parentheses and may contain spaces.
    guard let close = stat.lastIndex(of: ")") else { throw TestFailure("bad /proc stat") }
    let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else {
        throw TestFailure("bad /proc stat")
    }
    return user + system
}
