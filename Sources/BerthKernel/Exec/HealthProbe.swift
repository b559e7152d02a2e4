import CBerth
import Glibc
import SystemPackage

/// How one healthcheck run ended.
public struct ProbeResult: Sendable, Equatable {
    /// nil when it was killed at its timeout.
    public var status: ProcessExitStatus?
    /// The first bytes of what it wrote to stdout and stderr.
    public var output: String

    public var timedOut: Bool { status == nil }
    public var passed: Bool { status == .exited(0) }
}

extension ContainerRuntime {
    /// What a probe keeps of the check's output (as Docker does).
    public static let probeOutputLimit = HealthWire.outputLimit

    /// Runs a check inside the container, as ``exec(into:_:executable:stdin:stdout:stderr:terminal:cgroup:prepare:)``
    /// does, with its output captured. A check still running at `timeout` is killed
    /// with its whole process group (it leads one, being a session leader), so that it
    /// leaves nothing behind.
    public static func probe(
        into id: ProcessIdentity, _ process: ExecConfig, executable: String = InitExecutable.path,
        timeout: Duration, cgroup: FileDescriptor? = nil, prepare: (Int32) throws -> Void = { _ in }
    ) throws -> ProbeResult {
        var pipe: [Int32] = [-1, -1]
        guard cberth_pipe2(&pipe, O_CLOEXEC) == 0 else {
            throw KernelError("pipe2", "healthcheck output", errno: Errno(rawValue: errno))
        }
        defer { close(pipe[0]) }
        var writeEnd = pipe[1]
        defer { if writeEnd >= 0 { close(writeEnd) } }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(null) }
        let deadline = ContinuousClock.now + timeout
        var output: [UInt8] = []
        var timedOut = false
        let status = try exec(
            into: id, process, executable: executable, stdin: null, stdout: writeEnd, stderr: writeEnd,
            terminal: nil, cgroup: cgroup, prepare: prepare
        ) { relay, command in
            close(writeEnd)
            writeEnd = -1
            let pidfd = cberth_pidfd_open(relay)
            defer { if pidfd >= 0 { close(pidfd) } }
            var buffer = [UInt8](repeating: 0, count: 4096)
            var reading = true
            while true {
                let left = deadline - .now
                if left <= .zero {
                    timedOut = true
                    kill(-command, SIGKILL)
                    break
                }
                var fds = [pollfd(fd: reading ? pipe[0] : -1, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)]
                if poll(&fds, 2, left.pollMilliseconds) < 0 { continue }
                if fds[0].revents != 0 {
                    let n = buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
                    if n > 0 {
                        output += buffer[0..<min(n, max(0, probeOutputLimit - output.count))]
                    } else if !(n < 0 && errno == EINTR) {
                        reading = false
                    }
                }
                if fds[1].revents != 0 || pidfd < 0 { break }
            }
            var status: Int32 = 0
            while waitpid(relay, &status, 0) < 0 && errno == EINTR {}
            return status
        }
        return ProbeResult(status: timedOut ? nil : status, output: String(decoding: output, as: UTF8.self))
    }
}

extension ContainerRuntime {
    /// The container's healthcheck endpoint (``HealthWire``) in its state directory.
    public static func healthSocketPath(stateDir: String) -> String { stateDir + "/" + HealthWire.socketName }

    /// Runs a check through the container's own berth init (its endpoint in `stateDir`):
    /// init forks it in the container with the command's environment, directory, user and
    /// privileges, kills its whole group at `timeout` and answers. No relay process is
    /// started on the host: the cost is a connection and two messages here, a fork in the
    /// container (charged to its cgroup).
    ///
    /// - Returns: nil when run `id` has no endpoint (started by an older berth, or its
    ///   endpoint could not be bound): run the check with ``probe(into:_:executable:timeout:cgroup:prepare:)``.
    /// - Throws: ``KernelError`` when the endpoint is not `id`'s, refuses, or the check
    ///   could not be started (the text is init's).
    public static func probe(endpoint stateDir: String, of id: ProcessIdentity, argv: [String], timeout: Duration)
        throws -> ProbeResult?
    {
        guard let request = try ask(endpoint: stateDir, of: id, argv: argv, timeout: timeout) else { return nil }
        return try HealthRequest.answers([request])[0].get()
    }

    /// The first half of ``probe(endpoint:of:argv:timeout:)``: the check is asked for and
    /// runs; ``HealthRequest/answers(_:)`` waits for any number of them at once.
    public static func ask(endpoint stateDir: String, of id: ProcessIdentity, argv: [String], timeout: Duration)
        throws -> HealthRequest?
    {
        let path = healthSocketPath(stateDir: stateDir)
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw KernelError("socket", path, errno: Errno(rawValue: errno)) }
        let request = HealthRequest(fd: fd, path: path, command: argv.first ?? "",
                                    deadline: .now + timeout + HealthRequest.grace)
        switch connectUnix(fd, path) {
        case 0: break
        // No endpoint, or a dead run's socket.
        case ENOENT, ECONNREFUSED: return nil
        case let error: throw KernelError("connect", path, errno: Errno(rawValue: error))
        }
        // The listener is init of this run (its pid when it listened), not a socket left by another.
        var pid: pid_t = 0
        var uid: uid_t = 0
        guard cberth_peer_credentials(fd, &pid, &uid) == 0 else {
            throw KernelError("getsockopt(SO_PEERCRED)", path, errno: Errno(rawValue: errno))
        }
        guard pid == id.pid else {
            throw KernelError("healthcheck", path, detail: "the endpoint is pid \(pid)'s, not the container's init \(id.pid)")
        }
        let bytes = HealthWire.request(argv: argv, timeoutMilliseconds: UInt32(clamping: timeout.wholeMilliseconds))
        guard bytes.count <= HealthWire.maxRequest,
              bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw KernelError("send", path, errno: Errno(rawValue: errno))
        }
        return request
    }

    /// connect(2) to a unix socket by path; 0 or the errno. A path longer than sun_path is
    /// reached through an O_PATH fd of it (/proc/self/fd/N), as systemd does.
    static func connectUnix(_ fd: Int32, _ path: String) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var target = path
        var opened: Int32 = -1
        defer { if opened >= 0 { close(opened) } }
        if path.utf8.count >= MemoryLayout.size(ofValue: address.sun_path) {
            opened = open(path, CBERTH_O_PATH | O_CLOEXEC)
            guard opened >= 0 else { return errno }
            target = "/proc/self/fd/\(opened)"
        }
        withUnsafeMutableBytes(of: &address.sun_path) { sun in
            for (i, byte) in target.utf8.enumerated() { sun[i] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0 ? 0 : errno
    }
}

/// A check asked of a container's berth init (``ContainerRuntime/ask(endpoint:of:argv:timeout:)``),
/// its answer still to come. Owns the connection.
public final class HealthRequest: @unchecked Sendable {
    /// Init answers when the check has ended, at the latest just after killing it at its
    /// timeout; the grace covers a loaded host, not a hung check.
    static let grace: Duration = .seconds(10)

    private let fd: Int32
    private let path: String
    private let command: String
    private let deadline: ContinuousClock.Instant
    private let asked = ContinuousClock.now
    /// From the request to its answer (set by ``answers(_:)``).
    public private(set) var duration: Duration = .zero

    init(fd: Int32, path: String, command: String, deadline: ContinuousClock.Instant) {
        self.fd = fd
        self.path = path
        self.command = command
        self.deadline = deadline
    }

    deinit { close(fd) }

    /// Waits for all the answers at once (one epoll set over their connections, no thread
    /// each); each one's result, in the order of `requests`.
    public static func answers(_ requests: [HealthRequest]) -> [Result<ProbeResult, any Error>] {
        var results = [Result<ProbeResult, any Error>?](repeating: nil, count: requests.count)
        // perf: one set, each connection added once. A batch of 100 checks polled every
        // connection still waiting each time one answered: 100 polls of up to 100 each,
        // a fifth of the monitor's CPU.
        let set = cberth_epoll_create()
        guard set >= 0 else {
            let error = KernelError("epoll_create", "healthcheck answers", errno: Errno(rawValue: errno))
            return requests.map { _ in .failure(error) }
        }
        defer { close(set) }
        var waiting: [Int32: Int] = [:]
        for (i, request) in requests.enumerated() {
            if cberth_epoll_add(set, request.fd) == 0 {
                waiting[request.fd] = i
            } else {
                results[i] = .failure(KernelError("epoll_ctl", request.path, errno: Errno(rawValue: errno)))
            }
        }
        var buffer = [UInt8](repeating: 0, count: HealthWire.maxAnswer)
        var ready = [Int32](repeating: 0, count: 64)
        while !waiting.isEmpty {
            let now = ContinuousClock.now
            for (fd, i) in waiting where requests[i].deadline <= now {
                results[i] = .failure(KernelError("healthcheck", requests[i].path, errno: .timedOut,
                                                  detail: "berth init did not answer"))
                waiting[fd] = nil
            }
            guard let next = waiting.values.lazy.map({ requests[$0].deadline }).min() else { break }
            let n = ready.withUnsafeMutableBufferPointer {
                cberth_epoll_wait(set, $0.baseAddress, Int32($0.count), (next - now).pollMilliseconds)
            }
            if n < 0 {
                if errno == EINTR { continue }
                let error = KernelError("epoll_wait", "healthcheck answers", errno: Errno(rawValue: errno))
                for i in waiting.values { results[i] = .failure(error) }
                break
            }
            for fd in ready.prefix(Int(n)) {
                guard let i = waiting.removeValue(forKey: fd) else { continue }
                _ = cberth_epoll_remove(set, fd)
                results[i] = Result { try requests[i].receive(into: &buffer) }
            }
        }
        return results.map { $0! }
    }

    private func receive(into buffer: inout [UInt8]) throws -> ProbeResult {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        duration = .now - asked
        guard n > 0 else {
            throw KernelError("recv", path, errno: n < 0 ? Errno(rawValue: errno) : nil,
                              detail: n == 0 ? "berth init closed the connection (the container ended?)" : nil)
        }
        guard let (outcome, output) = HealthWire.parseAnswer(buffer[0..<n]) else {
            throw KernelError("healthcheck", path, detail: "malformed answer")
        }
        let text = String(decoding: output, as: UTF8.self)
        switch outcome {
        case .exited(let code): return ProbeResult(status: .exited(code), output: text)
        case .signaled(let sig): return ProbeResult(status: .signaled(sig), output: text)
        case .timedOut: return ProbeResult(status: nil, output: text)
        case .failed(let why): throw KernelError("healthcheck", command, detail: why)
        }
    }
}
