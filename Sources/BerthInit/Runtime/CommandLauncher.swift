import CBerth
import Glibc
import SystemPackage

/// The last steps before the user's command: credentials, capabilities,
/// no_new_privs, working directory, fds, PATH lookup, exec. Runs in a child that
/// berth init (single-threaded, so fork is safe) forked; Swift is fine here.
struct CommandLauncher {
    var argv: [String]
    var env: [String]
    var workdir: String
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32]
    var capabilities: Set<Int32>
    var noNewPrivileges: Bool
    /// Installed last, just before execve (or before the credentials change when
    /// no_new_privs is off: then only CAP_SYS_ADMIN allows installing it).
    var seccomp: SeccompFilter?
    // operations
    /// setsid(2) before exec: the command leads a session of its own.
    var newSession = false
    /// With ``newSession``: fd 0 (a pty slave) becomes the session's controlling terminal.
    var controllingTerminal = false
    var rlimits: [ResourceLimit]
    /// A directory fd of the host's /proc: the command puts back its OOM score (see ``OOMScore``).
    var hostProc: Int32 = -1
    /// When set, the command's stdout and stderr (else it keeps the caller's 1 and 2).
    var output: Int32 = -1
    /// A healthcheck forked by berth init after ``ContainerInit/dropPrivileges(_:keepingForChecks:)``:
    /// init already holds the command's groups, rlimits and bounding set, its gid and uid
    /// as real ids and (for uid 0) its capabilities as permitted only. With securebits'
    /// NOROOT locked in init, uid 0 gains nothing on execve: the capabilities pass to
    /// the check as ambient ones, so it ends with the command's effective and permitted sets.
    var fromDroppedInit = false

    init(_ process: ExecConfig, seccomp: SeccompFilter? = nil) throws {
        guard let first = process.argv.first, !first.isEmpty else {
            throw KernelError("exec", "", detail: "the command is empty")
        }
        argv = process.argv
        env = process.env
        if !env.contains(where: { $0.hasPrefix("PATH=") }) { env.append("PATH=" + ContainerConfig.defaultPath) }
        workdir = process.workdir
        uid = process.uid
        gid = process.gid
        groups = process.groups
        capabilities = Set(try Capabilities.values(of: process.capabilities))
        noNewPrivileges = process.noNewPrivileges
        self.seccomp = seccomp
        rlimits = process.rlimits
    }

    /// Forks the command. Returns its pid once it has been exec'd, or throws with
    /// what went wrong (the child reports over a close-on-exec pipe: EOF means exec).
    func launch(signalMask: sigset_t) throws -> pid_t {
        var fds: [Int32] = [-1, -1]
        guard cberth_pipe2(&fds, O_CLOEXEC) == 0 else {
            throw KernelError("pipe2", "exec status", errno: Errno(rawValue: errno))
        }
        let pid = fork()
        if pid == 0 {
            close(fds[0])
            run(reportingTo: fds[1], signalMask: signalMask)
        }
        close(fds[1])
        defer { close(fds[0]) }
        guard pid > 0 else { throw KernelError("fork", argv[0], errno: Errno(rawValue: errno)) }
        let message = (try? ProcFS.readAll(FileDescriptor(rawValue: fds[0]), name: "exec status")) ?? []
        if message.isEmpty { return pid }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        throw InitFailure(description: String(decoding: message, as: UTF8.self))
    }

    private func run(reportingTo pipe: Int32, signalMask: sigset_t) -> Never {
        do {
            try prepare(signalMask: signalMask)
            let (err, what) = execute()
            report("exec \"\(what)\": \(err.description)", pipe)
        } catch let error as KernelError {
            report(error.description, pipe)
        } catch {
            report("\(error)", pipe)
        }
    }

    private func report(_ message: String, _ pipe: Int32) -> Never {
        var bytes = Array(message.utf8)
        _ = write(pipe, &bytes, bytes.count)
        _exit(127)
    }

    private func prepare(signalMask: sigset_t) throws {
        // berth init installs no handlers and ignores nothing (its dispositions were
        // reset before it was exec'd); it only blocks signals: give the command the mask back.
        var mask = signalMask
        sigprocmask(SIG_SETMASK, &mask, nil)
        umask(0o022)
        if newSession && setsid() < 0 { throw KernelError("setsid", argv[0], errno: Errno(rawValue: errno)) }
        if controllingTerminal && cberth_tiocsctty(0) != 0 {
            throw KernelError("ioctl(TIOCSCTTY)", "pty", errno: Errno(rawValue: errno))
        }

        if output >= 0 && (dup2(output, 1) != 1 || dup2(output, 2) != 2) {
            throw KernelError("dup2", "stdout and stderr", errno: Errno(rawValue: errno))
        }
        if hostProc >= 0 { try OOMScore.reset(proc: hostProc) }
        if fromDroppedInit {
            try takeCredentialsFromDroppedInit()
        } else {
            // While init's capabilities are still ours: lowering needs none, raising CAP_SYS_RESOURCE.
            try ResourceLimit.apply(rlimits)
            try Capabilities.limitBoundingSet(to: capabilities)
            if !noNewPrivileges { try seccomp?.install() }
            try setGroups()
            guard cberth_setresgid(gid, gid, gid) == 0 else {
                throw KernelError("setgid", String(gid), errno: Errno(rawValue: errno))
            }
            guard cberth_setresuid(uid, uid, uid) == 0 else {
                throw KernelError("setuid", String(uid), errno: Errno(rawValue: errno))
            }
            // Like runc and Docker: root keeps the set; any other user starts with none effective.
            try Capabilities.setProcessSets(capabilities, root: uid == 0)
        }
        guard chdir(workdir) == 0 else { throw KernelError("chdir", workdir, errno: Errno(rawValue: errno)) }
        if noNewPrivileges && cberth_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            throw KernelError("prctl(PR_SET_NO_NEW_PRIVS)", "", errno: Errno(rawValue: errno))
        }
        // Nothing of berth's beyond stdin, stdout and stderr reaches the command.
        if cberth_close_range(3, ~0, UInt32(CBERTH_CLOSE_RANGE_CLOEXEC)) != 0 {
            for fd in 3..<Int32(4096) { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        // Last: from here on only what the profile allows, and execve is among it.
        // (A dropped init has set no_new_privs already: installing needs nothing more.)
        if noNewPrivileges || fromDroppedInit { try seccomp?.install() }
    }

    /// See ``fromDroppedInit``: every step is one that needs no capability from init.
    private func takeCredentialsFromDroppedInit() throws {
        // The same limits as init's own: nothing is raised.
        try ResourceLimit.apply(rlimits)
        // The real ids are these already, so no CAP_SETGID or CAP_SETUID is needed.
        guard cberth_setresgid(gid, gid, gid) == 0 else {
            throw KernelError("setgid", String(gid), errno: Errno(rawValue: errno))
        }
        guard cberth_setresuid(uid, uid, uid) == 0 else {
            throw KernelError("setuid", String(uid), errno: Errno(rawValue: errno))
        }
        try Capabilities.setAmbientSets(uid == 0 ? capabilities : [])
    }

    /// The supplementary groups, before the gid and uid change (setgroups needs CAP_SETGID).
    func setGroups() throws {
        let ok = groups.withUnsafeBufferPointer { cberth_setgroups($0.count, $0.baseAddress) == 0 }
        // A user namespace whose gid map was written without CAP_SETGID forbids setgroups:
        // dropping to none is then already the state; asking for groups is an error.
        if !ok && !(errno == EPERM && groups.isEmpty) {
            throw KernelError("setgroups", groups.map(String.init).joined(separator: ","), errno: Errno(rawValue: errno))
        }
    }

    /// execve with a PATH lookup like execvpe; returns only on failure.
    private func execute() -> (Errno, String) {
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        let file = argv[0]
        if file.contains("/") {
            execve(file, cArgv, cEnv)
            return (Errno(rawValue: errno), file)
        }
        let path = env.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) } ?? ContainerConfig.defaultPath
        var denied = false
        for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + file
            execve(candidate, cArgv, cEnv)
            switch errno {
            case EACCES: denied = true
            case ENOENT, ENOTDIR: break
            default: return (Errno(rawValue: errno), candidate)
            }
        }
        return (denied ? .permissionDenied : .noSuchFileOrDirectory, file + "\" in PATH \"" + path)
    }
}

/// How berth's init (and the exec relay) wait: every signal worth forwarding is
/// blocked and taken synchronously with sigwaitinfo, so there is no handler and no thread.
enum ChildSupervisor {
    /// Signals passed on to the command. Not the synchronous ones (a fault of init
    /// itself), not SIGCHLD (ours), not SIGKILL/SIGSTOP (cannot be caught).
    static let forwarded: [Int32] = [
        SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGCONT,
        SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR,
    ]

    /// Blocks the forwarded signals and SIGCHLD; returns the previous mask, for the child.
    static func blockSignals() -> sigset_t {
        var set = waitSet()
        var old = sigset_t()
        sigprocmask(SIG_BLOCK, &set, &old)
        return old
    }

    static func waitSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGCHLD)
        for sig in forwarded { sigaddset(&set, sig) }
        return set
    }

    /// Forwards signals to `child` and reaps every child (orphans of the container
    /// land here) until `child` exits; returns its wait status.
    static func supervise(_ child: pid_t) -> Int32 {
        var set = waitSet()
        while true {
            var info = siginfo_t()
            let sig = sigwaitinfo(&set, &info)
            if sig < 0 { continue }
            if sig != SIGCHLD {
                kill(child, sig)
                continue
            }
            var exited: Int32? = nil
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 { break }
                if pid == child { exited = status }
            }
            if let exited { return exited }
        }
    }
}
