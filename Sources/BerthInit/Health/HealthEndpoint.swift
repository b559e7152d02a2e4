import CBerth
import Glibc
import SystemPackage

/// berth init's healthcheck endpoint: `health.sock` (see ``HealthWire``) in the
/// container's state directory, where the host's berth asks init to run a check.
///
/// Init is already in the container's namespaces, root and cgroup, so a check is one
/// fork of init (charged to the container, as Docker's exec is) instead of a relay
/// process that joins everything from the host. The socket is bound through init's
/// fd of the state directory (a detached bind mount, see ``InitRequest/stateDirFD``):
/// the host reaches it by the directory's path, the container has no path to it.
/// Binding it in init rather than passing a socket from berth at start makes each run
/// own its socket: a new run replaces it, and a dead run's refuses connections.
/// Only root on the host is answered (SO_PEERCRED; with a PID namespace the peer must
/// also be outside it), after the file mode 0600 already kept everyone else out.
///
/// Driven by init's poll loop (``LogRelay/supervise(_:health:)``), single-threaded:
/// ``pollFDs()`` and ``pollTimeout`` before each poll, ``handle(_:)`` after it, and
/// ``reaped(_:status:)`` for every child init reaps that is not its command.
struct HealthEndpoint {
    private let listener: Int32
    /// The command's own launcher with the argv of each check put in.
    private let template: CommandLauncher
    private let signalMask: sigset_t
    private let inPIDNamespace: Bool
    private let inUserNamespace: Bool
    /// Accepted connections whose request has not come yet.
    private var waiting: [Int32] = []
    private var running: [Check] = []

    private struct Check {
        var connection: Int32
        var pid: pid_t
        /// The read end of the check's stdout and stderr; -1 at its end.
        var output: Int32
        var head: [UInt8] = []
        var deadline: Int64
        var timedOut = false
    }

    /// Binds and listens; nil (with the reason in the log) when that fails: the container
    /// runs on, and berth falls back to checks through an exec relay.
    static func open(launching template: CommandLauncher, signalMask: sigset_t, pidNamespace: Bool,
                     userNamespace: Bool) -> HealthEndpoint? {
        do {
            let fd = try bind()
            var launcher = template
            // The container's /proc (init's root is the container's now): each check puts its
            // OOM score back to 0 from init's -999 as the command did (see OOMScore); without
            // a /proc there the check keeps init's.
            launcher.hostProc = Glibc.open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            // Its own session and process group: a timeout kills all it started.
            launcher.newSession = true
            launcher.fromDroppedInit = true
            return HealthEndpoint(listener: fd, template: launcher, signalMask: signalMask,
                                  inPIDNamespace: pidNamespace, inUserNamespace: userNamespace)
        } catch {
            ContainerInit.log("healthcheck endpoint: \(error); checks go through berth exec instead")
            return nil
        }
    }

    private init(listener: Int32, template: CommandLauncher, signalMask: sigset_t, inPIDNamespace: Bool,
                 inUserNamespace: Bool) {
        self.listener = listener
        self.template = template
        self.signalMask = signalMask
        self.inPIDNamespace = inPIDNamespace
        self.inUserNamespace = inUserNamespace
    }

    private static func bind() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw KernelError("socket", HealthWire.socketName, errno: Errno(rawValue: errno)) }
        // Relative to the state directory: init is single-threaded, its cwd is its own.
        guard fchdir(InitRequest.stateDirFD) == 0 else {
            Glibc.close(fd)
            throw KernelError("fchdir", "state directory", errno: Errno(rawValue: errno))
        }
        defer { _ = chdir("/") }
        // A previous run's socket.
        _ = unlink(HealthWire.socketName)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (i, byte) in HealthWire.socketName.utf8.enumerated() { path[i] = byte }
        }
        let old = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        umask(old)
        guard bound == 0, listen(fd, 256) == 0 else {
            let error = Errno(rawValue: errno)
            Glibc.close(fd)
            throw KernelError("bind", HealthWire.socketName, errno: error)
        }
        return fd
    }

    // MARK: - the poll loop's hooks

    /// The listener, then the connections waiting for their request, then the checks' output pipes.
    func pollFDs() -> [pollfd] {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        for fd in waiting { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        for check in running { fds.append(pollfd(fd: check.output, events: Int16(POLLIN), revents: 0)) }
        return fds
    }

    /// Milliseconds until the next check's timeout; -1 for none.
    var pollTimeout: Int32 {
        let deadlines = running.filter { !$0.timedOut }.map(\.deadline)
        guard let next = deadlines.min() else { return -1 }
        return Int32(clamping: max(0, next - Self.now()))
    }

    /// After poll: `fds` are those of ``pollFDs()``, in its order, with their revents.
    mutating func handle(_ fds: ArraySlice<pollfd>) {
        let base = fds.startIndex
        let waitingCount = waiting.count
        for i in running.indices where fds[base + 1 + waitingCount + i].revents != 0 { readOutput(i) }
        let now = Self.now()
        for i in running.indices where !running[i].timedOut && running[i].deadline <= now {
            // The group is the check's session: the leader is not reaped yet, so the id is still its.
            kill(-running[i].pid, SIGKILL)
            running[i].timedOut = true
        }
        // Backwards: a connection leaves `waiting` once its request came.
        for i in (0..<waitingCount).reversed() where fds[base + 1 + i].revents != 0 { receive(at: i) }
        if fds[base].revents != 0 { accept() }
    }

    /// A child init reaped; true when it was a check (now answered).
    @discardableResult
    mutating func reaped(_ pid: pid_t, status: Int32) -> Bool {
        guard let i = running.firstIndex(where: { $0.pid == pid }) else { return false }
        // What it wrote before it ended is in the pipe; a child it left may hold the pipe open.
        if running[i].output >= 0 { readOutput(i) }
        let check = running.remove(at: i)
        let outcome: HealthWire.Outcome
        if check.timedOut {
            outcome = .timedOut
        } else {
            switch ProcessExitStatus(waitStatus: status) {
            case .exited(let code): outcome = .exited(code)
            case .signaled(let sig): outcome = .signaled(sig)
            }
        }
        Self.answer(check.connection, outcome, output: check.head[...])
        if check.output >= 0 { Glibc.close(check.output) }
        return true
    }

    /// The command has ended: no more checks; those still running are killed.
    mutating func close() {
        for check in running {
            kill(-check.pid, SIGKILL)
            Glibc.close(check.connection)
            if check.output >= 0 { Glibc.close(check.output) }
        }
        running = []
        for fd in waiting { Glibc.close(fd) }
        waiting = []
        Glibc.close(listener)
        if template.hostProc >= 0 { Glibc.close(template.hostProc) }
        if fchdir(InitRequest.stateDirFD) == 0 {
            _ = unlink(HealthWire.socketName)
            _ = chdir("/")
        }
    }

    // MARK: - steps

    private mutating func accept() {
        while true {
            let fd = cberth_accept_nonblocking(listener)
            if fd < 0 { return }
            if let refusal = refusal(of: fd) {
                Self.answer(fd, .failed(refusal), output: [])
                continue
            }
            waiting.append(fd)
            // berth sends its request right after connecting: mostly it is there already.
            receive(at: waiting.count - 1)
        }
    }

    /// Why the peer is not berth on the host, or nil when it is.
    private func refusal(of fd: Int32) -> String? {
        var pid: pid_t = 0
        var uid: uid_t = 0
        guard cberth_peer_credentials(fd, &pid, &uid) == 0 else {
            return "refused: SO_PEERCRED: \(Errno(rawValue: errno))"
        }
        // Root on the host is 0 here, or the overflow uid where our user namespace does not map it.
        let root = uid == 0 || (inUserNamespace && uid == Self.overflowUID)
        guard root else { return "refused: uid \(uid) is not root" }
        // A peer in our PID namespace has a pid here: it is in the container, not berth on the host.
        if inPIDNamespace && pid != 0 { return "refused: pid \(pid) is inside the container" }
        return nil
    }

    /// kernel.overflowuid's default: the uid an unmapped one reads as.
    private static let overflowUID: uid_t = 65534

    private mutating func receive(at index: Int) {
        let fd = waiting[index]
        var buffer = [UInt8](repeating: 0, count: HealthWire.maxRequest)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        waiting.remove(at: index)
        guard n > 0, let (argv, timeout) = HealthWire.parseRequest(buffer[0..<n]) else {
            if n > 0 { Self.answer(fd, .failed("malformed healthcheck request"), output: []) } else { Glibc.close(fd) }
            return
        }
        start(argv, timeoutMilliseconds: timeout, answering: fd)
    }

    private mutating func start(_ argv: [String], timeoutMilliseconds: UInt32, answering fd: Int32) {
        var pipe: [Int32] = [-1, -1]
        guard cberth_pipe2(&pipe, O_CLOEXEC) == 0 else {
            Self.answer(fd, .failed(KernelError("pipe2", "healthcheck output", errno: Errno(rawValue: errno)).description),
                        output: [])
            return
        }
        _ = fcntl(pipe[0], F_SETFL, fcntl(pipe[0], F_GETFL) | O_NONBLOCK)
        var launcher = template
        launcher.argv = argv
        launcher.output = pipe[1]
        let deadline = Self.now() + Int64(timeoutMilliseconds)
        do {
            let pid = try launcher.launch(signalMask: signalMask)
            Glibc.close(pipe[1])
            running.append(Check(connection: fd, pid: pid, output: pipe[0], deadline: deadline))
        } catch {
            Glibc.close(pipe[0])
            Glibc.close(pipe[1])
            Self.answer(fd, .failed("\(error)"), output: [])
        }
    }

    /// Reads what is there; output beyond the limit is read and dropped, so the check never blocks on it.
    private mutating func readOutput(_ i: Int) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while running[i].output >= 0 {
            let n = buffer.withUnsafeMutableBytes { read(running[i].output, $0.baseAddress, $0.count) }
            if n > 0 {
                let room = HealthWire.outputLimit - running[i].head.count
                if room > 0 { running[i].head += buffer[0..<min(n, room)] }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { return }
            Glibc.close(running[i].output)
            running[i].output = -1
        }
    }

    /// One answer, then the connection is closed (a peer that went away loses it, nothing else).
    private static func answer(_ fd: Int32, _ outcome: HealthWire.Outcome, output: ArraySlice<UInt8>) {
        let bytes = HealthWire.answer(outcome, output: output)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
        Glibc.close(fd)
    }

    /// CLOCK_MONOTONIC in milliseconds.
    private static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
