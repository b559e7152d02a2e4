#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import FoundationEssentials
#endif
import CBerth
import Glibc
import SystemPackage

/// Starting, signalling and stopping containers, and running commands in them.
///
/// A container is a detached `berth-init` (see ``InitExecutable``) in new
/// namespaces: it is nobody's child but the host's, keeps running when the berth
/// that started it exits, and is found again by its ``ProcessIdentity``.
public enum ContainerRuntime {
    /// stdout and stderr of the container's current run, as ``LogEntry`` lines (rotated
    /// into `container.log.1`...; see ``LogFiles``).
    public static func logPath(stateDir: String) -> String { stateDir + "/" + LogFiles.current }

    /// Where berth init records how the command ended.
    public static func exitRecordPath(stateDir: String) -> String { stateDir + "/" + ExitRecord.fileName }

    /// How long `start` waits for berth init to report (mounts on a hung filesystem...).
    static let startTimeout: Duration = .seconds(30)

    /// Starts a container: berth init in new namespaces, which sets up the root
    /// filesystem and execs `config.argv` as its child.
    ///
    /// - Parameters:
    ///   - stateDir: an existing host directory for this container. It receives
    ///     `container.log` (the command's stdout and stderr, relayed by berth init with
    ///     a time and the stream on each line, rotated as `config.logging` says; the
    ///     previous run's log becomes `previous.log`) and, when the
    ///     command ends, `exit.json` (see ``ExitRecord``; a previous one is removed
    ///     now). With a user namespace it is handed to the container's root (chown),
    ///     since init writes `exit.json` with that identity.
    ///   - executable: the `berth-init` executable (see ``InitExecutable``).
    ///   - cgroup: the container's cgroup v2 directory (``CgroupDriver/spawnTarget(_:)``):
    ///     init is created inside it, and `prepare` finds it there already.
    ///   - prepare: called with init's pid while it is blocked before running
    ///     anything: the place to put it into cgroups. If it throws, the child is killed.
    /// - Returns: init's identity, once the command has been exec'd.
    /// - Throws: ``KernelError`` with the reason (command not found, mount failed...),
    ///   after killing whatever was started: nothing is left behind.
    public static func start(
        _ config: ContainerConfig, stateDir: String, executable: String = InitExecutable.path,
        cgroup: FileDescriptor? = nil, prepare: (Int32) throws -> Void = { _ in }
    ) throws -> ProcessIdentity {
        try start(config, stateDir: stateDir, executable: executable, moveRoot: false, cgroup: cgroup,
                  prepare: prepare)
    }

    /// `moveRoot`: tests take the initramfs fallback of pivot_root on any host with it.
    static func start(
        _ config: ContainerConfig, stateDir: String, executable: String, moveRoot: Bool,
        cgroup: FileDescriptor? = nil, prepare: (Int32) throws -> Void
    ) throws -> ProcessIdentity {
        try validate(config)
        let exe = try SealedExecutable.open(executable)
        let state = try ProcFS.openFile(stateDir, .readOnly, options: [.directory])
        defer { try? state.close() }
        if unlinkat(state.rawValue, ExitRecord.fileName, 0) != 0 && errno != ENOENT {
            throw KernelError("remove", exitRecordPath(stateDir: stateDir), errno: Errno(rawValue: errno))
        }
        if config.namespaces.contains(.user) {
            try handOver(state, stateDir, to: config)
            if config.namespaces.contains(.mount) { try RootFilesystem.createMountPoints(config) }
        }

        try LogFiles.startNewRun(in: state.rawValue, stateDir: stateDir)

        var owned: [FileDescriptor] = []
        defer { for fd in owned { try? fd.close() } }
        let log = try ProcFS.openFile(logPath(stateDir: stateDir), .writeOnly, options: [.append, .create],
                                      permissions: [.ownerReadWrite, .groupRead])
        owned.append(log)
        let initState = try detachedView(of: state, stateDir)
        owned.append(initState)
        let filter = try SeccompFilter.filter(for: config.seccomp, capabilities: config.capabilities)
        let configFD = try memfd(InitRequest(container: config, moveRoot: moveRoot ? true : nil,
                                             seccompFilter: filter?.base64), name: "berth-config")
        owned.append(configFD)
        let devNull = try ProcFS.openFile("/dev/null", .readOnly)
        owned.append(devNull)
        let (channel, childSocket) = try InitChannel.pair()
        defer { try? channel.socket.close() }
        owned.append(childSocket)

        var flags: Int32 = 0
        for kind in config.namespaces where kind != .cgroup { flags |= kind.cloneFlag }
        // The cgroup namespace is made after `prepare`, rooted at the container's own cgroup.
        let late = config.namespaces.contains(.cgroup) ? NamespaceKind.cgroup.cloneFlag : 0
        let intermediate = try Spawn(
            namespaces: flags, lateNamespaces: late, detach: true, newSession: true,
            becomeRoot: config.namespaces.contains(.user), executable: exe,
            fds: [devNull.rawValue, log.rawValue, log.rawValue, configFD.rawValue, childSocket.rawValue,
                  initState.rawValue],
            socketIndex: Int(InitRequest.socketFD), cgroup: cgroup
        ).run()
        for fd in owned { try? fd.close() }
        owned = []

        // The intermediate reports init's pid (or its clone error) and exits at once.
        var status: Int32 = 0
        while waitpid(intermediate, &status, 0) < 0 && errno == EINTR {}
        let deadline = ContinuousClock.now + startTimeout
        let first = try channel.receive(until: deadline)
        guard case .pid(let pid) = first else {
            throw KernelError("start", config.id, detail: describe(first))
        }
        // Blocked on the socket, init cannot exit by itself: this is its start time.
        let identity: ProcessIdentity
        let pidfd: FileDescriptor
        do {
            identity = try ProcessIdentity.read(pid: pid)
            pidfd = try PidFD.open(identity)
        } catch {
            kill(pid, SIGKILL)
            throw error
        }
        defer { try? pidfd.close() }
        do {
            if config.namespaces.contains(.user) { try writeIDMaps(pid: pid, config) }
            try prepare(pid)
            try OOMScore.protect(pid: pid)
            try channel.sendGo()
            let answer = try channel.receive(until: deadline)
            guard answer == .ok else { throw KernelError("start", config.id, detail: describe(answer)) }
            return identity
        } catch {
            _ = cberth_pidfd_send_signal(pidfd.rawValue, SIGKILL)
            _ = PidFD.waitForExit(pidfd, timeout: .seconds(10))
            throw error
        }
    }

    /// Sends `signal` to the container's init (which forwards it to the command).
    /// Never signals a process that merely reuses the pid.
    public static func signal(_ id: ProcessIdentity, _ signal: Int32) throws {
        let pidfd = try PidFD.open(id)
        defer { try? pidfd.close() }
        guard cberth_pidfd_send_signal(pidfd.rawValue, signal) == 0 else {
            throw KernelError("signal \(signal)", "pid \(id.pid)", errno: Errno(rawValue: errno))
        }
    }

    /// True while the container's init runs.
    public static func isAlive(_ id: ProcessIdentity) -> Bool { id.isAlive }

    /// How ``stop(_:signal:timeout:)`` ended.
    public enum StopOutcome: Sendable, Equatable {
        /// It was not running.
        case notRunning
        /// It exited after the stop signal.
        case exited
        /// It was killed with SIGKILL after the timeout.
        case killed
    }

    /// Sends `signal` to init (forwarded to the command), waits up to `timeout`
    /// for it to exit, then sends SIGKILL. Processes of the container outside its
    /// PID namespace (none, with one) are left to the cgroup's kill.
    @discardableResult
    public static func stop(_ id: ProcessIdentity, signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) throws
        -> StopOutcome
    {
        let pidfd: FileDescriptor
        do {
            pidfd = try PidFD.open(id)
        } catch let error as KernelError where error.errno == .noSuchProcess {
            return .notRunning
        }
        defer { try? pidfd.close() }
        if cberth_pidfd_send_signal(pidfd.rawValue, signal) != 0 && errno != ESRCH {
            throw KernelError("signal \(signal)", "pid \(id.pid)", errno: Errno(rawValue: errno))
        }
        if PidFD.waitForExit(pidfd, timeout: timeout) { return .exited }
        if cberth_pidfd_send_signal(pidfd.rawValue, SIGKILL) != 0 && errno != ESRCH {
            throw KernelError("signal 9", "pid \(id.pid)", errno: Errno(rawValue: errno))
        }
        guard PidFD.waitForExit(pidfd, timeout: .seconds(10)) else {
            throw KernelError("stop", "pid \(id.pid)", detail: "still running 10s after SIGKILL")
        }
        return .killed
    }

    /// The exit record berth init wrote, or nil (still running, or init was killed).
    public static func readExitRecord(stateDir: String) -> ExitRecord? {
        try? exitRecord(stateDir: stateDir)
    }

    /// How the command ended, as berth init recorded it; nil when there is no record
    /// (it runs, or init died before writing one). A record that cannot be read or
    /// decoded is an error: it must never read as "init died without a word".
    public static func exitRecord(stateDir: String) throws -> ExitRecord? {
        let path = exitRecordPath(stateDir: stateDir)
        let bytes: [UInt8]
        do {
            bytes = try ProcFS.readBytes(path)
        } catch let error as KernelError where error.errno == .noSuchFileOrDirectory {
            return nil
        }
        do {
            return try JSONDecoder().decode(ExitRecord.self, from: Data(bytes))
        } catch {
            throw KernelError("read", path, detail: "not a valid exit record: \(error)")
        }
    }

    // MARK: - exec

    /// Runs a process inside a running container and waits for it: it joins every
    /// namespace of the container that differs from the caller's (user first), the
    /// container's root, then gets the same kind of credentials, capabilities and
    /// no_new_privs as a container's command. stdio are the given fds.
    ///
    /// The command is a child of a small relay (berth init in exec mode, outside
    /// the container's PID namespace) that forwards signals and ends like the command.
    ///
    /// The command always gets a session of its own: it never has the caller's terminal
    /// as its controlling tty (from which it could push input with TIOCSTI).
    ///
    /// - Parameters:
    ///   - terminal: `exec -t`: the command runs on a pty made inside the container, of
    ///     this size, relayed to `stdout` (and from `stdin` unless it is -1) with the
    ///     caller's terminal in raw mode, restored when it ends.
    ///   - cgroup: the container's cgroup v2 directory, to create the relay in (as `start`).
    ///   - prepare: called with the relay's pid before it joins anything:
    ///     the place to put it into the container's cgroups (the command inherits them).
    public static func exec(
        into id: ProcessIdentity, _ process: ExecConfig, executable: String = InitExecutable.path,
        stdin: Int32 = 0, stdout: Int32 = 1, stderr: Int32 = 2, terminal: TerminalSize? = nil,
        cgroup: FileDescriptor? = nil, prepare: (Int32) throws -> Void = { _ in }
    ) throws -> ProcessExitStatus {
        try exec(into: id, process, executable: executable, stdin: stdin, stdout: stdout, stderr: stderr,
                 terminal: terminal, cgroup: cgroup, prepare: prepare, wait: nil)
    }

    /// `wait`: instead of waiting for the relay, called with the relay's pid and the
    /// command's (host) pid; returns the relay's wait status.
    static func exec(
        into id: ProcessIdentity, _ process: ExecConfig, executable: String,
        stdin: Int32, stdout: Int32, stderr: Int32, terminal: TerminalSize?,
        cgroup: FileDescriptor? = nil, prepare: (Int32) throws -> Void, wait: ((pid_t, pid_t) -> Int32)?
    ) throws -> ProcessExitStatus {
        guard !process.argv.isEmpty else { throw KernelError("exec", "", detail: "the command is empty") }
        let exe = try SealedExecutable.open(executable)
        try ProcFS.verify(id)
        var owned: [FileDescriptor] = []
        defer { for fd in owned { try? fd.close() } }

        let root = try ProcFS.openFile("/proc/\(id.pid)/root", .readOnly, options: [.directory])
        owned.append(root)
        let own = try ProcFS.namespaceInodes(pid: getpid())
        let theirs = try ProcFS.namespaceInodes(pid: id.pid)
        var joined: [JoinedNamespace] = []
        var fds: [Int32] = [stdin, stdout, stderr, -1, -1, root.rawValue]
        for kind in NamespaceKind.joinOrder where theirs[kind] != nil && theirs[kind] != own[kind] {
            let fd = try ProcFS.openFile("/proc/\(id.pid)/ns/\(kind.procName)", .readOnly)
            owned.append(fd)
            joined.append(JoinedNamespace(kind: kind, fd: Int32(fds.count)))
            fds.append(fd.rawValue)
        }
        // Everything above was opened from the pid: make sure it was the container.
        try ProcFS.verify(id)

        let filter = try SeccompFilter.filter(for: process.seccomp, capabilities: process.capabilities)
        let request = InitRequest(exec: ExecRequest(process: process, namespaces: joined, terminal: terminal),
                                  seccompFilter: filter?.base64)
        let configFD = try memfd(request, name: "berth-exec")
        owned.append(configFD)
        let (channel, childSocket) = try InitChannel.pair()
        defer { try? channel.socket.close() }
        owned.append(childSocket)
        fds[Int(InitRequest.configFD)] = configFD.rawValue
        fds[Int(InitRequest.socketFD)] = childSocket.rawValue

        if terminal != nil { try TerminalRelay.listen() }
        let pid = try Spawn(executable: exe, fds: fds, socketIndex: Int(InitRequest.socketFD), cgroup: cgroup).run()
        for fd in owned { try? fd.close() }
        owned = []
        func reap() -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return status
        }
        var master: FileDescriptor? = nil
        var command: pid_t = 0
        defer { try? master?.close() }
        do {
            try prepare(pid)
            try OOMScore.protect(pid: pid)
            try channel.sendGo()
            let answer: InitChannel.Message
            (answer, master, command) = try channel.receiveWithFD(until: .now + startTimeout)
            guard answer == .ok else { throw KernelError("exec", process.argv[0], detail: describe(answer)) }
            if terminal != nil && master == nil { throw KernelError("exec", process.argv[0], detail: "no terminal came back") }
        } catch {
            kill(pid, SIGKILL)
            _ = reap()
            throw error
        }
        if let master {
            return ProcessExitStatus(waitStatus: TerminalRelay.run(master: master, pid: pid, input: stdin >= 0 ? stdin : nil,
                                                                   output: stdout))
        }
        if let wait, command > 0 { return ProcessExitStatus(waitStatus: wait(pid, command)) }
        return ProcessExitStatus(waitStatus: reap())
    }

    // MARK: - helpers

    static func validate(_ config: ContainerConfig) throws {
        guard config.rootfs.hasPrefix("/") else {
            throw KernelError("rootfs", config.rootfs, detail: "not an absolute path")
        }
        var st = stat()
        guard stat(config.rootfs, &st) == 0 else {
            throw KernelError("rootfs", config.rootfs, errno: Errno(rawValue: errno))
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw KernelError("rootfs", config.rootfs, errno: .notDirectory)
        }
        guard let command = config.argv.first, !command.isEmpty else {
            throw KernelError("start", config.id, detail: "the command is empty")
        }
        if !config.namespaces.contains(.mount) && (!config.mounts.isEmpty || config.readOnlyRootfs) {
            throw KernelError("start", config.id, detail: "mounts and readOnlyRootfs need the mount namespace")
        }
        _ = try Capabilities.values(of: config.capabilities)
        for device in config.devices { _ = try DevicePolicy.rule(for: device) }
        for limit in config.rlimits {
            if let problem = limit.problem { throw KernelError("ulimit", limit.name, detail: problem) }
        }
        if config.namespaces.contains(.user) {
            guard config.uidMap.contains(where: { $0.container == 0 }), config.gidMap.contains(where: { $0.container == 0 })
            else {
                throw KernelError("user namespace", config.id, detail: "container uid and gid 0 must be mapped")
            }
        }
        for entry in config.mounts {
            guard entry.target.hasPrefix("/") else {
                throw KernelError("mount", entry.target, detail: "the target is not an absolute path")
            }
            if case .bind(let source, _, _) = entry {
                guard source.hasPrefix("/") else {
                    throw KernelError("bind mount source", source, detail: "not an absolute path")
                }
                guard stat(source, &st) == 0 else {
                    throw KernelError("bind mount source", source, errno: Errno(rawValue: errno))
                }
            }
        }
    }

    static func describe(_ message: InitChannel.Message) -> String {
        switch message {
        case .ok: "ok"
        case .pid(let pid): "unexpected pid \(pid)"
        case .childFailed(let text), .failed(let text): text
        case .closed: "berth init exited before the command started"
        }
    }

    /// The request as the child's fd 3: a memfd, so that writing it cannot block or raise SIGPIPE.
    static func memfd(_ request: InitRequest, name: String) throws -> FileDescriptor {
        let data = try JSONEncoder().encode(request)
        let fd = cberth_memfd_create(name, CBERTH_MFD_CLOEXEC)
        guard fd >= 0 else { throw KernelError("memfd_create", name, errno: Errno(rawValue: errno)) }
        let file = FileDescriptor(rawValue: fd)
        do {
            _ = try file.writeAll(data)
            _ = try file.seek(offset: 0, from: FileDescriptor.SeekOrigin.start)
        } catch let error as Errno {
            try? file.close()
            throw KernelError("write", name, errno: error)
        }
        return file
    }

    /// The state directory as init holds it: a detached bind mount of just that
    /// directory, so that `..` from it leads nowhere even if the fd were reached.
    static func detachedView(of state: FileDescriptor, _ stateDir: String) throws -> FileDescriptor {
        let flags = UInt32(CBERTH_OPEN_TREE_CLONE | CBERTH_OPEN_TREE_CLOEXEC | CBERTH_AT_EMPTY_PATH)
        let fd = cberth_open_tree(state.rawValue, "", flags)
        if fd >= 0 { return FileDescriptor(rawValue: fd) }
        // Only a kernel without open_tree (before 5.2) gets the plain fd; any other
        // failure is one, not a quiet step down.
        guard errno == ENOSYS else { throw KernelError("open_tree", stateDir, errno: Errno(rawValue: errno)) }
        let copy = fcntl(state.rawValue, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw KernelError("dup", stateDir, errno: Errno(rawValue: errno)) }
        return FileDescriptor(rawValue: copy)
    }

    /// With a user namespace, init is the container's root, a host uid like 100000:
    /// give it the state directory so that it can write `exit.json`.
    static func handOver(_ state: FileDescriptor, _ stateDir: String, to config: ContainerConfig) throws {
        guard let uid = hostID(0, config.uidMap), let gid = hostID(0, config.gidMap) else { return }
        guard fchown(state.rawValue, uid, gid) == 0 else {
            throw KernelError("chown", stateDir, errno: Errno(rawValue: errno))
        }
    }

    /// The host id of the container's id `id` under `map`; nil when no line maps it.
    package static func hostID(_ id: UInt32, _ map: [IDMap]) -> UInt32? {
        for line in map where id >= line.container && id - line.container < line.size {
            return line.host + (id - line.container)
        }
        return nil
    }

    /// Written by the parent (root on the host) while the child waits. As root the
    /// gid map needs no "deny" in setgroups; only a kernel that refuses it gets one.
    static func writeIDMaps(pid: pid_t, _ config: ContainerConfig) throws {
        func text(_ map: [IDMap]) -> String { map.map { "\($0.container) \($0.host) \($0.size)\n" }.joined() }
        try ProcFS.writeFile("/proc/\(pid)/uid_map", text(config.uidMap))
        do {
            try ProcFS.writeFile("/proc/\(pid)/gid_map", text(config.gidMap))
        } catch let error as KernelError where error.errno == .notPermitted {
            try ProcFS.writeFile("/proc/\(pid)/setgroups", "deny")
            try ProcFS.writeFile("/proc/\(pid)/gid_map", text(config.gidMap))
        }
    }
}

extension Duration {
    /// Whole milliseconds, the rest dropped.
    package var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Seconds, with their fraction (for records that keep times as seconds).
    package var fractionalSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// For poll(2): whole milliseconds rounded up, 0 when past, at most a minute.
    var pollMilliseconds: Int32 {
        guard self > .zero else { return 0 }
        return Int32(min(wholeMilliseconds + 1, 60_000))
    }
}

/// pidfds: a handle on one process that a reused pid cannot fool.
enum PidFD {
    /// Opens a pidfd for `id`, and checks afterwards that the pid still belongs to it.
    static func open(_ id: ProcessIdentity) throws -> FileDescriptor {
        let fd = cberth_pidfd_open(id.pid)
        guard fd >= 0 else {
            throw KernelError("pidfd_open", "pid \(id.pid)", errno: Errno(rawValue: errno))
        }
        let pidfd = FileDescriptor(rawValue: fd)
        guard id.isAlive else {
            try? pidfd.close()
            throw KernelError("find process", "pid \(id.pid)", errno: .noSuchProcess, detail: "it has exited")
        }
        return pidfd
    }

    /// True when the process exited within `timeout`.
    static func waitForExit(_ pidfd: FileDescriptor, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - .now
            var pfd = pollfd(fd: pidfd.rawValue, events: Int16(POLLIN), revents: 0)
            let n = poll(&pfd, 1, left.pollMilliseconds)
            if n > 0 { return true }
            if n < 0 && errno == EINTR { continue }
            if left <= .zero || n < 0 { return false }
        }
    }
}
