import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A systemd user manager (`systemd --user`) of the test's own, that sees only the test's units, for starting
/// systemd/authgate.service for real (SystemdManagerTests). What keeps it from touching the machine:
/// - every XDG directory and HOME are in its own directory, and `SYSTEMD_UNIT_PATH` is that directory's `units`
///   only: no unit of /usr/lib/systemd/user (dbus, gpg-agent, tmpfiles…) is loaded; generators and environment
///   generators point at an empty directory; `--unit=authgate-test.target` is an empty target;
/// - it runs in a mount namespace of its own (`unshare --mount --propagation private`), where a tmpfs over
///   /run/systemd holds `system/` (without which systemd refuses to run a user instance when PID 1 is not
///   systemd) and the `inaccessible/` nodes that sandboxing mounts over hidden paths, and where /dev/console is
///   the manager's log file; nothing mounted there reaches the machine's mount table;
/// - it runs in cgroups of its own (`authgate-test-ID` under the hierarchies systemd uses), so that stopping it
///   kills exactly its processes, even when it did not exit by itself.
/// Its directory is under .build, not /tmp: the unit's PrivateTmp= would hide the configuration from authgate.
final class UserManager {
    let directory: URL
    let units: URL
    /// The manager's process id. It is not a Foundation `Process`: systemd closes every descriptor it inherits,
    /// which Foundation takes for its child's exit, and Foundation's one reaping thread then blocks in waitpid
    /// on it, so that no other child of the tests is reaped again. A shell starts it in the background instead.
    private(set) var pid: Int32 = 0
    private let cgroups: [String]
    private var stopped = false
    /// After `stop`: whether the manager exited on being asked, leaving no process behind (nothing was killed).
    private(set) var exitedCleanly = false

    var runtimeDirectory: URL { directory.appendingPathComponent("runtime") }
    var logFile: URL { directory.appendingPathComponent("manager.log") }

    /// Why this machine cannot run one, or nil when it can (root, systemd, unshare, writable cgroups).
    static var unavailableReason: String? {
        if getuid() != 0 { return "the user manager's mount namespace and cgroups need root" }
        for tool in [
            "/lib/systemd/systemd", "/usr/bin/unshare", "/usr/bin/systemctl", "/usr/bin/systemd-analyze",
            "/usr/bin/python3",
        ]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing"
        }
        if cgroupRoots.isEmpty { return "no writable cgroup hierarchy for systemd under /sys/fs/cgroup" }
        return nil
    }

    /// cgroup v2 alone (/sys/fs/cgroup itself), or the hybrid layout (name=systemd v1 and the unified v2).
    static var cgroupRoots: [String] {
        let manager = FileManager.default
        if manager.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            return access("/sys/fs/cgroup", W_OK) == 0 ? ["/sys/fs/cgroup"] : []
        }
        return ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"].filter {
            manager.fileExists(atPath: $0 + "/cgroup.procs") && access($0, W_OK) == 0
        }
    }

    /// Makes the directory and its units: the repository's authgate.service and authgate.socket as they are,
    /// and the special units a service needs (basic.target, sockets.target empty; exit.target, systemd-exit.service
    /// and shutdown.target as systemd ships them, for `systemctl --user exit`).
    init() throws {
        let id = String(UUID().uuidString.prefix(8)).lowercased()
        directory = Repository.root.appendingPathComponent(".build/systemd-tests/\(id)")
        units = directory.appendingPathComponent("units")
        cgroups = Self.cgroupRoots.map { "\($0)/authgate-test-\(id)" }
        let manager = FileManager.default
        for name in ["units", "runtime", "config", "data", "state", "cache", "home", "empty"] {
            try manager.createDirectory(
                at: directory.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        chmod(runtimeDirectory.path, 0o700)
        // Unix socket paths ($XDG_RUNTIME_DIR/systemd/private) are limited to 107 bytes.
        guard runtimeDirectory.path.utf8.count < 80 else {
            throw TestFailure("the runtime directory's path is too long for its sockets: \(runtimeDirectory.path)")
        }
        for unit in ["authgate.service", "authgate.socket"] {
            try manager.copyItem(
                at: Repository.root.appendingPathComponent("systemd/\(unit)"), to: units.appendingPathComponent(unit))
        }
        let specials = [
            "authgate-test.target": "[Unit]\nDescription=the test's default target, pulling nothing\n",
            "basic.target": "[Unit]\nDescription=basic.target, empty for the test\n",
            "sockets.target": "[Unit]\nDescription=sockets.target, empty for the test\n",
            "shutdown.target": "[Unit]\nDescription=Shutdown\nDefaultDependencies=no\nRefuseManualStart=yes\n",
            "exit.target":
                "[Unit]\nDescription=Exit\nDefaultDependencies=no\nRequires=systemd-exit.service\n"
                + "After=systemd-exit.service\nAllowIsolate=yes\n",
            "systemd-exit.service":
                "[Unit]\nDescription=Exit\nDefaultDependencies=no\nRequires=shutdown.target\nAfter=shutdown.target\n"
                + "SuccessAction=exit-force\n\n[Service]\n# Outside app.slice, which stops for shutdown.target.\nSlice=-.slice\n",
        ]
        for (name, text) in specials {
            try text.write(to: units.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        _ = manager.createFile(atPath: logFile.path, contents: nil)
        for cgroup in cgroups { try manager.createDirectory(atPath: cgroup, withIntermediateDirectories: false) }
    }

    /// The shell that runs inside the new mount namespace and becomes the manager.
    private var prelude: String {
        let log = logFile.path
        let join = cgroups.map { "echo $$ > \($0)/cgroup.procs" }.joined(separator: "\n")
        return """
            set -e
            mount -n -t tmpfs -o mode=755,size=64m tmpfs /run/systemd
            mkdir /run/systemd/system /run/systemd/inaccessible
            cd /run/systemd/inaccessible
            mkdir -m 0 dir; : > reg; chmod 0 reg; mkfifo -m 0 fifo; mknod -m 0 chr c 0 0; mknod -m 0 blk b 0 0
            /usr/bin/python3 -c "import os, socket; socket.socket(socket.AF_UNIX).bind('sock'); os.chmod('sock', 0)"
            cd /
            mount -n --bind '\(log)' /dev/console
            # Shared again, in peer groups of this namespace only: LoadCredential='s mount reaches the service.
            mount -n --make-rshared /
            \(join)
            exec /lib/systemd/systemd --user --unit=authgate-test.target --log-level=debug --log-target=console
            """
    }

    var environment: [String: String] {
        let path = directory.path
        return [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "\(path)/home",
            "USER": "root", "LOGNAME": "root", "XDG_RUNTIME_DIR": runtimeDirectory.path,
            "XDG_CONFIG_HOME": "\(path)/config", "XDG_DATA_HOME": "\(path)/data", "XDG_STATE_HOME": "\(path)/state",
            "XDG_CACHE_HOME": "\(path)/cache", "SYSTEMD_UNIT_PATH": units.path,
            "SYSTEMD_GENERATOR_PATH": "\(path)/empty", "SYSTEMD_ENVIRONMENT_GENERATOR_PATH": "\(path)/empty",
        ]
    }

    /// Starts the manager and waits until it answers on its private bus socket.
    func start() throws {
        let script = directory.appendingPathComponent("prelude.sh")
        try prelude.write(to: script, atomically: true, encoding: .utf8)
        let launcher = Process()
        launcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        // Beside it, a watcher: if this test process dies without stopping the manager (a crash, a timeout's
        // kill), it kills everything in the manager's cgroups and removes them and the directory, within seconds.
        // It starts with every inherited descriptor closed: Foundation's socket for the launcher, left open in
        // it, would make Foundation wait for the watcher as if it were the launcher.
        let cgroupList = cgroups.map { "'\($0)'" }.joined(separator: " ")
        let keep = ProcessInfo.processInfo.environment["AUTHGATE_KEEP_SYSTEMD_TESTS"] != nil
        let watcher = directory.appendingPathComponent("watcher.sh")
        try """
        while kill -0 \(getpid()) 2>/dev/null && kill -0 "$1" 2>/dev/null; do sleep 1; done
        kill -0 \(getpid()) 2>/dev/null && exit 0
        for file in $(find \(cgroupList) -name cgroup.procs); do kill -9 $(cat "$file"); done
        sleep 1
        find \(cgroupList) -depth -type d -exec rmdir {} +
        \(keep ? "" : "rm -rf '\(directory.path)'")

        """.write(to: watcher, atomically: true, encoding: .utf8)
        let closingExec = "import os, sys; os.closerange(3, 65536); os.execv('/bin/sh', ['/bin/sh'] + sys.argv[1:])"
        launcher.arguments = [
            "-c",
            """
            unshare --mount --propagation private /bin/sh "$0" < /dev/null >> "$1" 2>&1 &
            manager=$!
            /usr/bin/python3 -c "$2" "$3" $manager < /dev/null > /dev/null 2>&1 &
            echo $manager
            """,
            script.path, logFile.path, closingExec, watcher.path,
        ]
        launcher.environment = environment
        let output = Pipe()
        launcher.standardOutput = output
        launcher.standardInput = FileHandle.nullDevice
        try launcher.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        launcher.waitUntilExit()
        guard
            let started = Int32(
                String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw TestFailure("the user manager's launcher printed no process id: \(managerLog)")
        }
        pid = started
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if !isRunning { throw TestFailure("the user manager exited: \(managerLog)") }
            // Not is-system-running: without /run/systemd/system on the machine, it says "offline" unasked.
            if let state = try? show("", ["SystemState"])["SystemState"], ["running", "degraded"].contains(state) {
                return
            }
            usleep(50_000)
        }
        throw TestFailure("the user manager did not answer within 15 s: \(managerLog)")
    }

    /// Whether the manager's process exists and is not a zombie (its parent, once the shell is gone, is PID 1).
    var isRunning: Bool {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state != "Z" && state != "X"
    }

    var managerLog: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Writes `units/UNIT.d/10-test.conf`, or with a `name`, `20-NAME.conf`, read after it (drop-ins are read
    /// in the order of their names, and a later `ExecStart=` replaces an earlier one).
    func dropIn(_ unit: String, name: String? = nil, _ text: String) throws {
        let folder = units.appendingPathComponent("\(unit).d")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = name.map { "20-\($0).conf" } ?? "10-test.conf"
        try text.write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
    }

    /// `systemctl --user ARGS` against this manager only (its private socket, by XDG_RUNTIME_DIR).
    @discardableResult
    func systemctl(_ arguments: [String], timeout: Int = 30) throws -> (status: Int32, output: String) {
        try run(["timeout", "\(timeout)", "systemctl", "--user", "--no-pager"] + arguments)
    }

    /// `systemd-analyze --user ARGS` against this manager only.
    func systemdAnalyze(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try run(["timeout", "30", "systemd-analyze", "--user"] + arguments)
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        child.arguments = arguments
        child.environment = ["PATH": environment["PATH"]!, "XDG_RUNTIME_DIR": runtimeDirectory.path]
        let output = Pipe()
        child.standardOutput = output
        child.standardError = output
        child.standardInput = FileHandle.nullDevice
        try child.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        child.waitUntilExit()
        return (child.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `systemctl --user show -p …` as a dictionary; an empty `unit` asks about the manager itself.
    func show(_ unit: String, _ properties: [String]) throws -> [String: String] {
        let result = try systemctl(["show"] + (unit.isEmpty ? [] : [unit]) + properties.flatMap { ["-p", $0] })
        var values: [String: String] = [:]
        for line in result.output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    func property(_ unit: String, _ name: String) -> String {
        (try? show(unit, [name]))?[name] ?? ""
    }

    /// Polls `condition` every 20 ms until it holds or `seconds` have passed.
    func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// Every process in the manager's cgroups (the manager and all it started).
    var processes: [Int32] {
        var found: Set<Int32> = []
        for root in cgroups {
            guard let walker = FileManager.default.enumerator(atPath: root) else { continue }
            var files = ["cgroup.procs"]
            while let path = walker.nextObject() as? String {
                if path.hasSuffix("/cgroup.procs") { files.append(path) }
            }
            for file in files {
                let text = (try? String(contentsOfFile: "\(root)/\(file)", encoding: .utf8)) ?? ""
                found.formUnion(text.split(separator: "\n").compactMap { Int32($0) })
            }
        }
        return found.sorted()
    }

    /// Asks the manager to stop its units and exit; whatever is still in its cgroups after 10 s is killed. The
    /// cgroups and the directory are removed. Safe to call twice.
    func stop() {
        guard !stopped else { return }
        stopped = true
        if isRunning {
            _ = try? systemctl(["--no-block", "exit"], timeout: 5)
            for _ in 0..<500 where isRunning { usleep(20_000) }
        }
        exitedCleanly = !isRunning && processes.isEmpty
        for _ in 0..<3 {
            let left = processes
            if left.isEmpty { break }
            for pid in left { kill(pid, SIGKILL) }
            usleep(200_000)
        }
        // Depth first: a cgroup is removed once its children are.
        for root in cgroups {
            for child in Self.directories(under: root).reversed() { rmdir(child) }
            rmdir(root)
        }
        // AUTHGATE_KEEP_SYSTEMD_TESTS=1 keeps the directory (units, logs) for a look after a failure.
        if ProcessInfo.processInfo.environment["AUTHGATE_KEEP_SYSTEMD_TESTS"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// The directories below `root`, parents before their children.
    private static func directories(under root: String) -> [String] {
        var found: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            var isDirectory: ObjCBool = false
            let path = "\(root)/\(name)"
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                found.append(path)
                found += directories(under: path)
            }
        }
        return found
    }

    deinit { stop() }
}

/// authgate.service under a UserManager of its own: a configuration on loopback ports, a client secret handed
/// over by LoadCredential=, and the drop-in every test needs (`units/authgate.service.d/test.conf`).
final class ManagedGateway {
    let manager: UserManager
    let binary: String
    let publicPort: UInt16
    let adminPort: UInt16
    /// The client secret, to check that it never reaches a log.
    let secret = "credential-\(UUID().uuidString)"

    var configFile: URL { manager.directory.appendingPathComponent("authgate.toml") }
    var serviceLogFile: URL { manager.directory.appendingPathComponent("authgate.log") }
    var serviceLog: String { (try? String(contentsOf: serviceLogFile, encoding: .utf8)) ?? "" }

    init(binary: String = Repository.binary) throws {
        self.binary = binary
        manager = try UserManager()
        publicPort = try freePort()
        adminPort = try freePort()
        let config = """
            [server]
            listen = ["127.0.0.1:\(publicPort)"]
            workers = 2

            [admin]
            listen = "127.0.0.1:\(adminPort)"

            \(RunningGateway.unreachableCognito)
            """
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        let secretFile = manager.directory.appendingPathComponent("client_secret")
        try secret.write(to: secretFile, atomically: true, encoding: .utf8)
        chmod(secretFile.path, 0o600)
        _ = FileManager.default.createFile(atPath: serviceLogFile.path, contents: nil)
        // What a user manager cannot honour, or what the test must point elsewhere (docs/operations.md).
        try manager.dropIn(
            "authgate.service",
            """
            [Service]
            ExecStart=
            ExecStart=\(binary) serve --config \(configFile.path)
            LoadCredential=
            LoadCredential=client_secret:\(secretFile.path)
            # The user manager's notify socket and credentials are in its 0700 runtime directory, which a
            # dynamic user cannot reach: the service runs as the manager's user (root here).
            DynamicUser=no
            StandardOutput=append:\(serviceLogFile.path)
            StandardError=inherit
            TimeoutStartSec=20s
            LimitCORE=0
            \(Self.revealingTheCheckout(binary: binary, directory: manager.directory))
            """)
        try manager.start()
    }

    /// A checkout under /tmp, /var/tmp or a home directory (a CI clone, say) holds the binary and the test's
    /// files where the unit's PrivateTmp= and ProtectHome= hide them from the service: only then are those two
    /// relaxed, and the rest of the sandbox stays as shipped.
    static func revealingTheCheckout(binary: String, directory: URL) -> String {
        let paths = [URL(fileURLWithPath: binary).resolvingSymlinksInPath().path, directory.path]
        var lines: [String] = []
        if paths.contains(where: { $0.hasPrefix("/tmp/") || $0.hasPrefix("/var/tmp/") }) {
            lines.append("PrivateTmp=no")
        }
        if paths.contains(where: { $0.hasPrefix("/home/") || $0.hasPrefix("/root/") || $0.hasPrefix("/run/user/") }) {
            lines.append("ProtectHome=no")
        }
        return lines.joined(separator: "\n")
    }

    /// Starts the service and waits for the manager's answer (READY=1, or the failure).
    func start() throws {
        let result = try manager.systemctl(["start", "authgate.service"])
        guard result.status == 0 else { throw TestFailure("start failed: \(result.output)\n\(diagnostics)") }
    }

    func rewriteConfig(_ transform: (String) -> String) throws {
        let text = try String(contentsOf: configFile, encoding: .utf8)
        try transform(text).write(to: configFile, atomically: true, encoding: .utf8)
    }

    /// Whether the admin listener answers /healthz with 200 (or, without the keys, 503: it is bound).
    func adminAnswers() -> Bool {
        guard let client = try? RawClient(port: adminPort, timeoutSeconds: 2),
            let answer = try? client.exchange("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        else { return false }
        return answer.status == 200 || answer.status == 503
    }

    /// The manager's view of the service and both logs, for failure messages.
    var diagnostics: String {
        let status = (try? manager.systemctl(["status", "authgate.service", "authgate.socket"]).output) ?? ""
        return "\(status)\n-- authgate:\n\(serviceLog.suffix(3000))\n-- manager:\n\(manager.managerLog.suffix(3000))"
    }

    func stop() { manager.stop() }
}
