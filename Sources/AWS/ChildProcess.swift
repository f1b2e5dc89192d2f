import Dispatch
import Synchronization
import Time

#if canImport(Glibc)
    import Glibc
#endif

/// One run of an external program whose output authgate reads (`credential_process`): no shell, standard input
/// and error on /dev/null, no descriptor of the daemon inherited, signals at their defaults, its own process group
/// so that a timeout kills whatever it started too. Blocking: run it on a queue of its own, never on a loop.
struct ChildProcess {
    struct Outcome: Sendable {
        enum Ending: Sendable, Equatable {
            case exited(Int32)
            case killedBySignal(Int32)
        }
        let output: [UInt8]
        let ending: Ending
    }

    let executable: String
    let arguments: [String]
    let environment: [String: String]
    let timeoutMilliseconds: Int
    let maxOutputBytes: Int

    /// A serial queue of its own for the deadline: the global queue runs on a pool as wide as the cores, and while
    /// its threads are all blocked a deadline there passes unnoticed (a hanging helper then ran its full 60 s).
    private static let deadlineQueue = DispatchQueue(label: "authgate.credential-process.deadline")

    /// Signals a daemon commonly ignores or handles; an ignored disposition would survive the exec.
    private static let defaultedSignals: [Int32] = [
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD,
    ]

    func run() -> Result<Outcome, CredentialError> {
        let deadline = SystemClock.monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { return .failure(failure("cannot make a pipe", errno)) }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        // Close-on-exec on both, so that no other child started meanwhile holds them; the dup2 to 1 clears it.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        defer { close(readEnd) }

        let spawned = spawn(stdout: writeEnd)
        close(writeEnd)
        let pid: pid_t
        switch spawned {
        case .success(let started): pid = started
        case .failure(let error): return .failure(error)
        }
        let group = ProcessGroup(leader: pid)
        // The deadline also ends a child that closed its output and then hangs, which no read would notice.
        let timer = DispatchWorkItem { group.kill(reason: .timedOut) }
        Self.deadlineQueue.asyncAfter(deadline: .now() + .milliseconds(timeoutMilliseconds), execute: timer)
        defer { timer.cancel() }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        reading: while true {
            let now = SystemClock.monotonicNanoseconds()
            guard now < deadline else {
                group.kill(reason: .timedOut)
                break
            }
            var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: (deadline - now) / 1_000_000 + 1))
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 { continue }
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(readEnd, $0.baseAddress, $0.count) }
                if count == 0 { break reading }
                if count < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN { continue reading }
                    break reading
                }
                output += chunk[..<count]
                if output.count > maxOutputBytes {
                    group.kill(reason: .tooMuchOutput)
                    break reading
                }
            }
        }

        let ending = group.waitForExit()
        switch group.killReason {
        case .timedOut?:
            return .failure(CredentialError("\(executable) did not finish within \(timeoutMilliseconds) ms"))
        case .tooMuchOutput?:
            return .failure(CredentialError("\(executable) wrote more than \(maxOutputBytes) bytes"))
        case nil:
            return .success(Outcome(output: output, ending: ending))
        }
    }

    private func spawn(stdout: Int32) -> Result<pid_t, CredentialError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // Descriptors opened without close-on-exec (libcurl's sockets) stay in the daemon.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaulted = sigset_t()
        sigemptyset(&defaulted)
        for signal in Self.defaultedSignals { sigaddset(&defaulted, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaulted)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else { return .failure(failure("cannot start \(executable)", status)) }
        return .success(pid)
    }

    private func failure(_ what: String, _ code: Int32) -> CredentialError {
        CredentialError("\(what): \(String(cString: strerror(code)))")
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    /// glibc 2.34's posix_spawn_file_actions_addclosefrom_np, which the Glibc module does not declare.
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
}

/// The child's process group, killed at most once and never after the leader is reaped: the leader's pid stays
/// taken until `waitpid`, so the kill cannot reach a process that reused it.
private final class ProcessGroup: Sendable {
    enum KillReason: Sendable { case timedOut, tooMuchOutput }
    private struct State {
        var reaped = false
        var killReason: KillReason?
    }
    private let leader: pid_t
    private let state = Mutex(State())

    init(leader: pid_t) { self.leader = leader }

    var killReason: KillReason? { state.withLock { $0.killReason } }

    func kill(reason: KillReason) {
        state.withLock { state in
            guard !state.reaped, state.killReason == nil else { return }
            state.killReason = reason
            _ = Glibc.kill(-leader, SIGKILL)
        }
    }

    /// Blocks until the leader exits (the timer kills it at the deadline), then reaps it.
    func waitForExit() -> ChildProcess.Outcome.Ending {
        var info = siginfo_t()
        while waitid(P_PID, id_t(leader), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        state.withLock { $0.reaped = true }
        var status: Int32 = 0
        while waitpid(leader, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS are macros: the low seven bits hold the signal, 0 for a normal exit.
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .killedBySignal(signal)
    }
}
