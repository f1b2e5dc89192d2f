internal import CSystem

#if canImport(Glibc)
    import Glibc
#endif

/// What a descriptor is ready for, as one epoll event reports it.
struct Readiness: OptionSet {
    let rawValue: UInt32

    static let readable = Readiness(rawValue: 1)
    static let writable = Readiness(rawValue: 2)
    /// The peer shut its sending side (EPOLLRDHUP): a read will see the end.
    static let readEOF = Readiness(rawValue: 4)
    /// An error or a hang-up of both directions (EPOLLERR, EPOLLHUP): SO_ERROR says which.
    static let reset = Readiness(rawValue: 8)

    init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    init(epollEvents events: UInt32) {
        var readiness: Readiness = []
        if events & csystem_epoll_in != 0 { readiness.insert(.readable) }
        if events & csystem_epoll_out != 0 { readiness.insert(.writable) }
        if events & csystem_epoll_rdhup != 0 { readiness.insert(.readEOF) }
        if events & (csystem_epoll_hup | csystem_epoll_err) != 0 { readiness.insert(.reset) }
        self = readiness
    }
}

/// A registered descriptor's owner: every readiness event of the descriptor goes through here.
protocol Selectable: AnyObject {
    func handleEvent(_ readiness: Readiness)
}

/// A descriptor's place in its loop's epoll set.
struct Registration {
    let fd: Int32
    fileprivate let token: UInt64
}

/// One loop's epoll set. Each descriptor is added once, edge-triggered, for reading, writing and hang-up, and
/// keeps its owner alive until it is removed. An event carries a slot number and that slot's generation, so an
/// event still in the batch for a descriptor removed (and its number reused) earlier in the same batch finds
/// a newer generation and is dropped. Loop-confined.
final class ReadinessSet {
    let epollFD: Int32
    private var owners: [(any Selectable)?] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int] = []
    private let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(csystem_epoll_batch))
    private let events = UnsafeMutablePointer<UInt32>.allocate(capacity: Int(csystem_epoll_batch))

    static let batchSize = Int(csystem_epoll_batch)

    init() {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        // Without its epoll set a loop can serve nothing: this fails only when the process is out of descriptors
        // at start.
        precondition(epollFD >= 0, "epoll_create1 failed: errno \(errno)")
    }

    deinit {
        tokens.deallocate()
        events.deallocate()
        Syscall.close(epollFD)
    }

    var registeredCount: Int { owners.count - freeSlots.count }

    func register(_ fd: Int32, owner: any Selectable) throws(SystemError) -> Registration {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            owners[slot] = owner
        } else {
            slot = owners.count
            owners.append(owner)
            generations.append(0)
        }
        let token = UInt64(generations[slot]) << 32 | UInt64(slot)
        guard csystem_epoll_add(epollFD, fd, token) == 0 else {
            let code = csystem_errno()
            release(slot)
            throw SystemError(call: "epoll_ctl", errno: code)
        }
        return Registration(fd: fd, token: token)
    }

    /// Takes the descriptor out of the set; its owner hears nothing more, not even events already fetched.
    func deregister(_ registration: Registration) {
        _ = csystem_epoll_remove(epollFD, registration.fd)
        release(Int(truncatingIfNeeded: registration.token & 0xffff_ffff))
    }

    private func release(_ slot: Int) {
        owners[slot] = nil
        generations[slot] &+= 1
        freeSlots.append(slot)
    }

    /// Delivers one batch of ready events without waiting. Returns how many there were.
    func deliverReadyEvents() -> Int {
        let count = Int(csystem_epoll_ready(epollFD, tokens, events))
        for index in 0..<max(count, 0) {
            let token = tokens[index]
            let slot = Int(truncatingIfNeeded: token & 0xffff_ffff)
            guard slot < owners.count, generations[slot] == UInt32(truncatingIfNeeded: token >> 32),
                let owner = owners[slot]
            else { continue }
            owner.handleEvent(Readiness(epollEvents: events[index]))
        }
        return max(count, 0)
    }
}
