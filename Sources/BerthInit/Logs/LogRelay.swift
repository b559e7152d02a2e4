import CBerth
import Glibc
import SystemPackage

/// berth init's relay of the command's stdout and stderr into the container's log
/// (pipes, as conmon does for Podman), and its wait for the command.
///
/// One poll loop over the two pipes and a signalfd: signals are forwarded to the
/// command, children reaped, output read as soon as it comes. The relay always
/// keeps reading: a full disk drops lines (counted in the log), it never stalls
/// the command. It lives in init, so it outlives any berth that started or watches it.
struct LogRelay {
    private var writer: LogWriter
    private let pipes: [(fd: Int32, stream: LogStream)]
    /// Per pipe, the start of a line whose end has not come yet (always shorter than a piece).
    private let held: [HeldLine]
    private let maxPiece: Int

    /// Makes the two pipes. Returns the relay and the write ends, which become the
    /// command's fds 1 and 2 (close-on-exec: the caller dup2s them into place).
    static func make(dir: Int32, logFD: Int32, rotation: LogRotation) throws -> (LogRelay, stdout: Int32, stderr: Int32) {
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard cberth_pipe2(&out, O_CLOEXEC) == 0 else { throw KernelError("pipe2", "stdout", errno: Errno(rawValue: errno)) }
        guard cberth_pipe2(&err, O_CLOEXEC) == 0 else { throw KernelError("pipe2", "stderr", errno: Errno(rawValue: errno)) }
        for fd in [out[0], err[0]] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            // A bigger pipe lets a fast writer run on while the relay writes.
            _ = fcntl(fd, CBERTH_F_SETPIPE_SZ, Int32(1 << 20))
        }
        let writer = LogWriter(dir: dir, fd: logFD, rotation: rotation)
        let relay = LogRelay(writer: writer, pipes: [(out[0], .stdout), (err[0], .stderr)], maxPiece: rotation.maxPiece)
        return (relay, out[1], err[1])
    }

    private init(writer: LogWriter, pipes: [(fd: Int32, stream: LogStream)], maxPiece: Int) {
        self.writer = writer
        self.pipes = pipes
        self.held = pipes.map { _ in HeldLine(capacity: maxPiece) }
        self.maxPiece = maxPiece
    }

    /// Relays output, forwards signals to `child` and reaps every child until `child`
    /// has exited; then takes what is left in the pipes. Returns `child`'s wait status.
    /// `health`'s fds are polled in the same loop and the children it forked handed to it.
    mutating func supervise(_ child: pid_t, health: inout HealthEndpoint?) -> Int32 {
        defer { health?.close() }
        var set = ChildSupervisor.waitSet()
        let signals = cberth_signalfd(&set)
        guard signals >= 0 else {
            // Without a signalfd there is no way to wait for both: keep the command's
            // output flowing into the pipes' buffers and take signals as before.
            health?.close()
            health = nil
            let status = ChildSupervisor.supervise(child)
            drain()
            return status
        }
        defer { close(signals) }
        var buffer = Self.readBuffer()
        var open = [true, true]
        while true {
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            for (i, pipe) in pipes.enumerated() { fds.append(pollfd(fd: open[i] ? pipe.fd : -1, events: Int16(POLLIN), revents: 0)) }
            let healthFDs = fds.count
            if let health { fds += health.pollFDs() }
            if poll(&fds, nfds_t(fds.count), health?.pollTimeout ?? -1) < 0 { continue }
            for i in pipes.indices where fds[i + 1].revents != 0 {
                if !read(i, into: &buffer) { open[i] = false }
            }
            writer.flush()
            health?.handle(fds[healthFDs...])
            guard fds[0].revents != 0 else { continue }
            var info = signalfd_siginfo()
            var exited: Int32? = nil
            while Glibc.read(signals, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
                let sig = cberth_signalfd_signo(&info)
                if sig != SIGCHLD {
                    kill(child, sig)
                    continue
                }
                while true {
                    var status: Int32 = 0
                    let pid = waitpid(-1, &status, WNOHANG)
                    if pid <= 0 { break }
                    if pid == child { exited = status } else { health?.reaped(pid, status: status) }
                }
            }
            if let exited {
                drain(&buffer)
                return exited
            }
        }
    }

    /// 256 KiB per read keeps a fast writer's syscalls few. Not zero-filled: its pages
    /// (a mapping of their own, above malloc's mmap threshold) are touched only by what
    /// the command writes, so an init whose command is quiet does not carry them.
    private static func readBuffer() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 1 << 18) { _, count in count = 1 << 18 }
    }

    /// Everything still in the pipes, then the ends of unfinished lines.
    private mutating func drain() {
        var buffer = Self.readBuffer()
        drain(&buffer)
    }

    private mutating func drain(_ buffer: inout [UInt8]) {
        for i in pipes.indices {
            while read(i, into: &buffer) {}
            if held[i].count > 0 {
                writer.stamp(LogTime.now())
                emit(pipes[i].stream, held[i].bytes, Self.nothing, complete: false)
                writer.flush()
                held[i].clear()
            }
        }
        writer.flush()
    }

    /// Points fd 2 at the current log file, for init's last words (after ``supervise(_:)``).
    func redirectInitStderr() { writer.duplicate(onto: 2) }

    /// One read from pipe `i`, written to the log before it returns; false at the pipe's end
    /// (or when nothing more is there now, for a drain).
    private mutating func read(_ i: Int, into buffer: inout [UInt8]) -> Bool {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(pipes[i].fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { return true }
        guard n > 0 else { return false }
        writer.stamp(LogTime.now())
        buffer.withUnsafeBytes {
            let (usedHeld, tail) = split(i, UnsafeRawBufferPointer(rebasing: $0[0..<n]))
            // The queued entries point into the buffer and at the held bytes: they are
            // written before either changes.
            writer.flush()
            if usedHeld { held[i].clear() }
            held[i].append(tail)
        }
        return true
    }

    /// Cuts a chunk into entries, the held start of a line before its first. Returns whether
    /// the held bytes went into an entry, and the chunk's unfinished end, shorter than a
    /// piece, that waits for the rest of its line (held after the entries are written).
    private mutating func split(_ i: Int, _ bytes: UnsafeRawBufferPointer) -> (usedHeld: Bool, tail: UnsafeRawBufferPointer) {
        let stream = pipes[i].stream
        var head = held[i].bytes
        var usedHeld = false
        var start = 0
        while start < bytes.count,
              let found = memchr(bytes.baseAddress! + start, Int32(UInt8(ascii: "\n")), bytes.count - start) {
            let end = bytes.baseAddress!.distance(to: UnsafeRawPointer(found)) + 1
            emit(stream, head, bytes.slice(start, end), complete: true)
            head = Self.nothing
            usedHeld = true
            start = end
        }
        // A line longer than a piece: whole pieces go out (the first with the held bytes)
        // and only the short rest waits.
        var rest = bytes.slice(start, bytes.count)
        let whole = (head.count + rest.count) / maxPiece * maxPiece
        if whole > 0 {
            emit(stream, head, rest.slice(0, whole - head.count), complete: false)
            rest = rest.slice(whole - head.count, rest.count)
            usedHeld = true
        }
        return (usedHeld, rest)
    }

    /// A line as entries of at most `maxPiece` bytes; all but the last marked as pieces.
    /// Its content is `head` then `body`; a complete line's `body` ends with its newline.
    private mutating func emit(_ stream: LogStream, _ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer,
                               complete: Bool) {
        var head = head, body = body
        let newline = complete ? 1 : 0
        while head.count + body.count - newline > maxPiece {
            let h = min(head.count, maxPiece)
            writer.append(stream: stream, complete: false, head.slice(0, h), body.slice(0, maxPiece - h), newline: true)
            head = head.slice(h, head.count)
            body = body.slice(maxPiece - h, body.count)
        }
        writer.append(stream: stream, complete: complete, head, body, newline: !complete)
    }

    private static var nothing: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
}

/// The start of a line held between reads: at most a piece, in memory of its own
/// (allocated when a stream first leaves a line unfinished).
private final class HeldLine {
    private var base: UnsafeMutableRawPointer? = nil
    private let capacity: Int
    private(set) var count = 0

    init(capacity: Int) { self.capacity = capacity }
    deinit { base?.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func append(_ more: UnsafeRawBufferPointer) {
        guard more.count > 0 else { return }
        precondition(count + more.count <= capacity)
        if base == nil { base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16) }
        (base! + count).copyMemory(from: more.baseAddress!, byteCount: more.count)
        count += more.count
    }

    func clear() { count = 0 }
}

private extension UnsafeRawBufferPointer {
    /// Bytes `from..<to` (an empty buffer stays empty).
    func slice(_ from: Int, _ to: Int) -> UnsafeRawBufferPointer {
        from == to ? UnsafeRawBufferPointer(start: nil, count: 0) : UnsafeRawBufferPointer(rebasing: self[from..<to])
    }
}

extension LogRelay {
    /// Launches the command with its stdout and stderr on the relay's pipes (init's
    /// own fds 1 and 2 stay on the log file, for its messages).
    static func launch(_ launcher: CommandLauncher, signalMask: sigset_t, rotation: LogRotation) throws
        -> (pid_t, LogRelay)
    {
        let log = fcntl(2, F_DUPFD_CLOEXEC, 3)
        guard log >= 0 else { throw KernelError("dup", "log", errno: Errno(rawValue: errno)) }
        let (relay, out, err) = try make(dir: InitRequest.stateDirFD, logFD: log, rotation: rotation)
        let saved = fcntl(2, F_DUPFD_CLOEXEC, 3)
        defer {
            // Whatever happened, init's 1 and 2 are the log again and the write ends are the command's alone.
            _ = dup2(saved, 1)
            _ = dup2(saved, 2)
            close(saved)
            close(out)
            close(err)
        }
        guard saved >= 0, dup2(out, 1) == 1, dup2(err, 2) == 2 else {
            throw KernelError("dup2", "stdout and stderr", errno: Errno(rawValue: errno))
        }
        return (try launcher.launch(signalMask: signalMask), relay)
    }
}

extension LogWriter {
    func duplicate(onto target: Int32) {
        if currentFD >= 0 { _ = dup2(currentFD, target) }
    }
}
