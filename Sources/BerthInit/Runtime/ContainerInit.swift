import CBerth
import Glibc
import SystemPackage

/// `berth init`: the container's PID 1 (start mode) or the relay of `berth exec`
/// (exec mode). The same binary re-executed; single-threaded and synchronous.
///
/// The executable calls ``run()`` when its first argument is `init`, before anything
/// else. It is not a command for people: it expects the fds the runtime sets up.
public enum ContainerInit {
    /// Never returns: exits with the command's status (or 1 with the error in the log).
    public static func run() -> Never {
        // First of all: /proc/1/exe, /proc/1/fd, /proc/1/mem of berth init must
        // not be reachable from the container (CVE-2019-5736).
        guard cberth_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 else {
            log("prctl(PR_SET_DUMPABLE, 0): \(Errno(rawValue: errno)); refusing to run a container without it")
            exit(1)
        }
        "berth-init".withCString { _ = cberth_prctl(PR_SET_NAME, UInt(bitPattern: $0), 0, 0, 0) }
        guard startedByBerth() else {
            log("not a command: berth init is started by berth itself")
            exit(2)
        }
        if let request = readRequest() {
            let filter = seccompFilter(request)
            if let config = request.container { runContainer(config, moveRoot: request.moveRoot ?? false, filter: filter) }
            if let exec = request.exec {
                // stderr is the caller's terminal here; the caller reports the error.
                logsErrors = false
                runExec(exec, filter: filter)
            }
        }
        fail("no configuration on fd \(InitRequest.configFD): berth init is started by berth itself")
    }

    /// fd 4 is the SOCK_SEQPACKET socket berth hands over (not some fd a shell left open).
    private static func startedByBerth() -> Bool {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(InitRequest.socketFD, SOL_SOCKET, SO_TYPE, &type, &length) == 0
            && type == Int32(SOCK_SEQPACKET.rawValue)
    }

    private static func readRequest() -> InitRequest? {
        let fd = FileDescriptor(rawValue: InitRequest.configFD)
        defer { try? fd.close() }
        guard let bytes = try? ProcFS.readAll(fd, name: "configuration"), !bytes.isEmpty else { return nil }
        do {
            return try InitJSON.decode(InitRequest.self, from: bytes)
        } catch {
            fail("configuration: \(error)")
        }
    }

    // MARK: - start mode

    private static func runContainer(_ config: ContainerConfig, moveRoot: Bool, filter: SeccompFilter?) -> Never {
        let child: pid_t
        var relay: LogRelay
        var health: HealthEndpoint?
        do {
            let launcher: CommandLauncher
            let mask: sigset_t
            (child, relay, launcher, mask) = try setUpAndLaunch(config, moveRoot: moveRoot, filter: filter)
            // Bound before the answer: the endpoint is there once berth's start returns.
            health = HealthEndpoint.open(launching: launcher, signalMask: mask,
                                         pidNamespace: config.namespaces.contains(.pid),
                                         userNamespace: config.namespaces.contains(.user))
            try dropPrivileges(launcher, keepingForChecks: health != nil)
        } catch {
            fail("\(error)")
        }
        send(InitRequest.ok)
        close(InitRequest.socketFD)
        // The configuration is gone with setUpAndLaunch's frame; hand its memory back.
        _ = cberth_malloc_trim()
        let status = relay.supervise(child, health: &health)
        relay.redirectInitStderr()
        writeExitRecord(ProcessExitStatus(waitStatus: status))
        exit(ProcessExitStatus(waitStatus: status).shellCode)
    }

    /// Also returns the command's launcher and the signal mask it restores, for the healthchecks.
    private static func setUpAndLaunch(_ config: ContainerConfig, moveRoot: Bool, filter: SeccompFilter?) throws
        -> (pid_t, LogRelay, CommandLauncher, sigset_t)
    {
        var launcher = try CommandLauncher(ExecConfig(argv: config.argv, like: config), seccomp: filter)
        // The host's /proc, before the root changes: see OOMScore.
        let proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if proc >= 0 { close(proc) } }
        launcher.hostProc = proc
        umask(0)
        if !config.namespaces.contains(.pid) {
            // Not PID 1: still be the one that reaps the command's orphans.
            _ = cberth_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        }
        // In the new namespaces already, through the host's /proc: before /proc/sys turns read-only.
        try KernelParameter.write(config.sysctls)
        if config.namespaces.contains(.mount) {
            try RootFilesystem(config, moveRoot: moveRoot).setUp()
        } else {
            // Without a mount namespace nothing can be mounted without touching the host.
            guard chroot(config.rootfs) == 0, chdir("/") == 0 else {
                throw KernelError("chroot", config.rootfs, errno: Errno(rawValue: errno))
            }
        }
        if config.namespaces.contains(.uts), let hostname = config.hostname {
            guard cberth_sethostname(hostname, hostname.utf8.count) == 0 else {
                throw KernelError("sethostname", hostname, errno: Errno(rawValue: errno))
            }
        }
        let mask = ChildSupervisor.blockSignals()
        let (child, relay) = try LogRelay.launch(launcher, signalMask: mask, rotation: config.logging)
        return (child, relay, launcher, mask)
    }

    /// `exit.json` in the state directory, crash-safe: temp file, fsync, rename, fsync of the directory.
    private static func writeExitRecord(_ status: ProcessExitStatus) {
        let record = ExitRecord(status: status, finishedAt: ExitRecord.now())
        let dir = InitRequest.stateDirFD
        let temp = ".exit.json.tmp"
        let fd = openat(dir, temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            log("write \(ExitRecord.fileName): \(Errno(rawValue: errno))")
            return
        }
        let bytes = record.json + [UInt8(ascii: "\n")]
        let ok = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count && fsync(fd) == 0
        close(fd)
        guard ok, renameat(dir, temp, dir, ExitRecord.fileName) == 0 else {
            log("write \(ExitRecord.fileName): \(Errno(rawValue: errno))")
            return
        }
        let dirFD = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }

    // MARK: - exec mode

    private static func runExec(_ request: ExecRequest, filter: SeccompFilter?) -> Never {
        let child: pid_t
        var master: Int32 = -1
        do {
            var launcher = try CommandLauncher(request.process, seccomp: filter)
            // Its own session, never the caller's terminal as its controlling tty (TIOCSTI).
            launcher.newSession = true
            for joined in request.namespaces {
                guard cberth_setns(joined.fd, 0) == 0 else {
                    throw KernelError("setns", "\(joined.kind.rawValue) namespace", errno: Errno(rawValue: errno))
                }
                close(joined.fd)
            }
            // setns(mnt) put us at the namespace's root; the container's root is
            // where its init pivoted or chrooted to.
            guard fchdir(InitRequest.rootFD) == 0, chroot(".") == 0, chdir("/") == 0 else {
                throw KernelError("chroot", "container root", errno: Errno(rawValue: errno))
            }
            close(InitRequest.rootFD)
            if let size = request.terminal {
                let pty = try ExecPty.open(size: size)
                master = pty.master
                try ExecPty.attach(slave: pty.slave)
                launcher.controllingTerminal = true
            }
            let mask = ChildSupervisor.blockSignals()
            // The command is forked after setns(pid), so it is inside the PID namespace.
            child = try launcher.launch(signalMask: mask)
            try dropPrivileges(launcher, keepingForChecks: false)
        } catch {
            fail("\(error)")
        }
        // The command's pid (ours, the host's): a healthcheck that times out has its whole group killed.
        if master >= 0 {
            ExecPty.detach()
            ExecPty.sendOK(master: master, command: child)
        } else {
            send(InitRequest.ok, String(child))
        }
        close(InitRequest.socketFD)
        let status = ProcessExitStatus(waitStatus: ChildSupervisor.supervise(child))
        if case .signaled(let sig) = status {
            // End the same way, so that the caller's wait sees the signal.
            signal(sig, SIG_DFL)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, sig)
            sigprocmask(SIG_UNBLOCK, &set, nil)
            kill(getpid(), sig)
        }
        exit(status.shellCode)
    }

    // MARK: - reporting

    private static func send(_ kind: UInt8, _ text: String = "") {
        let bytes = [kind] + Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(InitRequest.socketFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// A line in the container's log (init's stderr is the log file; in exec mode the caller's stderr).
    static func log(_ message: String) {
        var bytes: [UInt8] = []
        if logsErrors {
            Array("berth init: \(message)".utf8).withUnsafeBytes {
                LogEntry.encode(time: LogTime.now().bytes, stream: .stderr, complete: true, content: $0, into: &bytes)
            }
        } else {
            bytes = Array("berth init: \(message)\n".utf8)
        }
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    nonisolated(unsafe) private static var logsErrors = true

    static func fail(_ message: String) -> Never {
        if logsErrors { log(message) }
        send(InitRequest.error, message)
        exit(1)
    }
}
