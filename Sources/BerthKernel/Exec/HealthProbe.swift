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
    public static let probeOutputLimit = 4096

    /// Runs a check inside the container, as ``exec(into:_:executable:stdin:stdout:stderr:terminal:prepare:)``
    /// does, with its output captured. A check still running at `timeout` is killed
    /// with its whole process group (it leads one, being a session leader), so that it
    /// leaves nothing behind.
    public static func probe(
        into id: ProcessIdentity, _ process: ExecConfig, executable: String = InitExecutable.path,
        timeout: Duration, prepare: (Int32) throws -> Void = { _ in }
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
            terminal: nil, prepare: prepare
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
