import CBerth
import Glibc
import SystemPackage

/// The Swift side of `cberth_spawn`: a child that waits for a "go" on a socket,
/// then execs berth init with the fds it was given.
struct Spawn {
    var namespaces: Int32 = 0
    /// Unshared after the "go" (see `cberth_spawn_args.late_namespaces`).
    var lateNamespaces: Int32 = 0
    /// Fork twice: the process is not our child and outlives us.
    var detach = false
    var newSession = false
    var becomeRoot = false
    var executable: FileDescriptor
    var argv: [String] = ["berth-init"]
    var env: [String] = []
    /// The child's fd i becomes fds[i] (-1: closed).
    var fds: [Int32]
    var socketIndex: Int
    /// A cgroup v2 directory to create the process in (see `cberth_spawn_args.cgroup_fd`).
    var cgroup: FileDescriptor? = nil

    /// Returns the pid of the child (with `detach`, of the intermediate process).
    func run() throws -> pid_t {
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer {
            for p in cArgv { free(p) }
            for p in cEnv { free(p) }
        }
        let pid: pid_t = cArgv.withUnsafeBufferPointer { argvBuffer in
            cEnv.withUnsafeBufferPointer { envBuffer in
                fds.withUnsafeBufferPointer { fdBuffer in
                    var args = cberth_spawn_args()
                    args.namespaces = UInt(UInt32(bitPattern: namespaces))
                    args.late_namespaces = UInt(UInt32(bitPattern: lateNamespaces))
                    args.detach = detach ? 1 : 0
                    args.new_session = newSession ? 1 : 0
                    args.become_root = becomeRoot ? 1 : 0
                    args.exe_fd = executable.rawValue
                    args.argv = argvBuffer.baseAddress
                    args.envp = envBuffer.baseAddress
                    args.fds = fdBuffer.baseAddress
                    args.nfds = Int32(fds.count)
                    args.sock_index = Int32(socketIndex)
                    args.cgroup_fd = cgroup?.rawValue ?? -1
                    return cberth_spawn(&args)
                }
            }
        }
        guard pid > 0 else { throw KernelError("clone", "berth init", errno: Errno(rawValue: -pid)) }
        return pid
    }
}

/// The parent's end of the socket to a spawned berth init.
struct InitChannel {
    let socket: FileDescriptor

    enum Message: Equatable {
        /// The detached init's pid, from the intermediate process.
        case pid(pid_t)
        /// A failure between clone and exec.
        case childFailed(String)
        /// The user's command runs.
        case ok
        /// berth init's error.
        case failed(String)
        /// Everyone on the other side is gone without a word.
        case closed
    }

    /// Makes a connected pair; returns (ours, the child's), both close-on-exec.
    static func pair() throws -> (InitChannel, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw KernelError("socketpair", "berth init", errno: Errno(rawValue: errno))
        }
        return (InitChannel(socket: FileDescriptor(rawValue: fds[0])), FileDescriptor(rawValue: fds[1]))
    }

    func sendGo() throws {
        var go: UInt8 = 1
        guard Glibc.send(socket.rawValue, &go, 1, Int32(MSG_NOSIGNAL)) == 1 else {
            throw KernelError("start", "berth init", errno: Errno(rawValue: errno),
                              detail: "it exited before it could start")
        }
    }

    /// Returns once the socket has something to read; throws when `deadline` passes first.
    func waitReadable(until deadline: ContinuousClock.Instant) throws {
        while true {
            let left = deadline - .now
            guard left > .zero else {
                throw KernelError("start", "berth init", errno: .timedOut, detail: "no word from berth init")
            }
            var pfd = pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)
            let n = poll(&pfd, 1, left.pollMilliseconds)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw KernelError("poll", "berth init", errno: Errno(rawValue: errno)) }
            if n > 0 { return }
        }
    }

    /// Waits for the next message until `deadline` (then throws).
    func receive(until deadline: ContinuousClock.Instant) throws -> Message {
        while true {
            try waitReadable(until: deadline)
            var buffer = [UInt8](repeating: 0, count: 65536)
            let got = buffer.withUnsafeMutableBytes { recv(socket.rawValue, $0.baseAddress, $0.count, 0) }
            if got < 0 && errno == EINTR { continue }
            if got < 0 && errno == ECONNRESET { return .closed }
            if got < 0 { throw KernelError("recv", "berth init", errno: Errno(rawValue: errno)) }
            if got == 0 { return .closed }
            return Self.decode(Array(buffer[0..<got]))
        }
    }

    static func decode(_ bytes: [UInt8]) -> Message {
        switch bytes.first {
        case InitRequest.ok: return .ok
        case InitRequest.error: return .failed(String(decoding: bytes.dropFirst(), as: UTF8.self))
        default: break
        }
        guard bytes.count == MemoryLayout<cberth_spawn_report>.size else {
            return .failed("unexpected message from berth init")
        }
        let report = bytes.withUnsafeBytes { $0.loadUnaligned(as: cberth_spawn_report.self) }
        if report.kind == Int32(CBERTH_REPORT_PID) { return .pid(report.value) }
        let step: String
        switch report.step {
        case Int32(CBERTH_STEP_CLONE): step = "clone"
        case Int32(CBERTH_STEP_FDS): step = "set up fds"
        case Int32(CBERTH_STEP_SETGROUPS): step = "setgroups"
        case Int32(CBERTH_STEP_SETRESGID): step = "setresgid(0) in the user namespace"
        case Int32(CBERTH_STEP_SETRESUID): step = "setresuid(0) in the user namespace"
        case Int32(CBERTH_STEP_SETSID): step = "setsid"
        case Int32(CBERTH_STEP_UNSHARE): step = "unshare(CLONE_NEWCGROUP)"
        case Int32(CBERTH_STEP_EXEC): step = "execveat(berth init)"
        default: step = "step \(report.step)"
        }
        return .childFailed("\(step): \(Errno(rawValue: report.value))")
    }
}
