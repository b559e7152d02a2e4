import CBerth
import Glibc
import Synchronization
import SystemPackage

/// What woke a ``EventWaiter``.
public enum WakeReason: Sendable, Equatable {
    /// A watched process exited (its pid).
    case processExited(Int32)
    /// A watched file was written, replaced or removed.
    case fileChanged
    /// A signal arrived (SIGTERM, SIGINT, SIGHUP, ...).
    case signal(Int32)
    /// The timeout passed with nothing else happening.
    case timeout
}

/// Waits on processes, a file and signals at once, with one poll(2): pidfds for
/// the processes (no polling of /proc), inotify on the file's directory (editors
/// replace files by rename), and a self-pipe written by the signal handler.
public final class EventWaiter: @unchecked Sendable {
    private var pidfds: [ProcessIdentity: Int32] = [:]
    private var inotify: Int32 = -1
    private var watchedName: String?

    public init() {}

    deinit {
        for fd in pidfds.values { close(fd) }
        if inotify >= 0 { close(inotify) }
    }

    /// How many processes are watched.
    public var watchedProcessCount: Int { pidfds.count }

    /// Watches exactly these processes (by identity: a pid that was reused is not watched).
    public func watch(processes: [ProcessIdentity]) {
        let wanted = Set(processes)
        for (id, fd) in pidfds where !wanted.contains(id) {
            close(fd)
            pidfds[id] = nil
        }
        for id in wanted where pidfds[id] == nil {
            // PidFD.open checks that the pid was not reused in between; a process that
            // is already gone is seen by the next pass anyway.
            guard let fd = try? PidFD.open(id) else { continue }
            pidfds[id] = fd.rawValue
        }
    }

    /// Watches a file for writes, replacement and removal (through its directory, since
    /// editors and config tools replace a file by renaming a new one over it).
    public func watch(file path: String) throws {
        if inotify < 0 {
            inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
            guard inotify >= 0 else { throw KernelError("inotify_init1", path, errno: Errno(rawValue: errno)) }
        }
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        watchedName = slash.map { String(path[path.index(after: $0)...]) } ?? path
        // Not IN_CREATE: a file created in place is still empty then; its IN_CLOSE_WRITE follows.
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE)
        guard inotify_add_watch(inotify, dir, mask) >= 0 else {
            throw KernelError("inotify_add_watch", dir, errno: Errno(rawValue: errno))
        }
    }

    /// Waits until something happens or `timeout` seconds pass.
    public func wait(timeout: Double) -> [WakeReason] {
        var fds: [pollfd] = [pollfd(fd: SignalPipe.shared.readFD, events: Int16(POLLIN), revents: 0)]
        if inotify >= 0 { fds.append(pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)) }
        let pids = Array(pidfds)
        for (_, fd) in pids { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        var ms = Int32((max(0, min(timeout, 86_400)) * 1000).rounded(.up))
        var n = poll(&fds, nfds_t(fds.count), ms)
        // A signal interrupts poll after its handler wrote to the pipe: look again, at once.
        while n < 0 && errno == EINTR {
            ms = 0
            n = poll(&fds, nfds_t(fds.count), ms)
        }
        guard n > 0 else { return [.timeout] }
        var out: [WakeReason] = []
        if fds[0].revents != 0 {
            out += SignalPipe.shared.drain().map(WakeReason.signal)
        }
        var next = 1
        if inotify >= 0 {
            if fds[1].revents != 0, drainInotify() { out.append(.fileChanged) }
            next = 2
        }
        for (i, (id, fd)) in pids.enumerated() where fds[next + i].revents != 0 {
            close(fd)
            pidfds[id] = nil
            out.append(.processExited(id.pid))
        }
        return out.isEmpty ? [.timeout] : out
    }

    /// True when an event names the watched file.
    private func drainInotify() -> Bool {
        var hit = false
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            var off = 0
            while off + MemoryLayout<inotify_event>.size <= n {
                let (len, name): (Int, String) = buf.withUnsafeBytes { raw in
                    let ev = raw.loadUnaligned(fromByteOffset: off, as: inotify_event.self)
                    let start = off + MemoryLayout<inotify_event>.size
                    let bytes = raw[start..<min(start + Int(ev.len), n)].prefix { $0 != 0 }
                    return (Int(ev.len), String(decoding: bytes, as: UTF8.self))
                }
                if name == watchedName { hit = true }
                off += MemoryLayout<inotify_event>.size + len
            }
        }
        return hit
    }
}

/// Signals delivered as bytes on a pipe, so that a poll loop sees them.
public final class SignalPipe: @unchecked Sendable {
    public static let shared = SignalPipe()
    public let readFD: Int32
    let writeFD: Int32

    private init() {
        var fds: [Int32] = [-1, -1]
        _ = cberth_pipe2(&fds, O_CLOEXEC | O_NONBLOCK)
        readFD = fds[0]
        writeFD = fds[1]
        signalPipeWriteFD = fds[1]
    }

    /// Routes these signals to the pipe (and no longer to their default action), and
    /// unblocks them: a parent may have started berth with them blocked.
    public func install(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in signals { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                // Only async-signal-safe work here: an atomic and a write(2).
                if sig > 0 && sig < 64 { pendingSignals.bitwiseOr(1 << UInt64(sig), ordering: .sequentiallyConsistent) }
                let saved = errno
                var byte = UInt8(truncatingIfNeeded: sig)
                _ = write(signalPipeWriteFD, &byte, 1)
                errno = saved
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(sig, &action, nil)
        }
    }

    /// True when one of `signals` arrived and was not drained yet: lets a long step
    /// stop early without taking the signal off the pipe.
    public func isPending(_ signals: [Int32]) -> Bool {
        let mask = signals.reduce(UInt64(0)) { $0 | ($1 > 0 && $1 < 64 ? 1 << UInt64($1) : 0) }
        return pendingSignals.load(ordering: .sequentiallyConsistent) & mask != 0
    }

    /// Signals received since the last drain, in order.
    public func drain() -> [Int32] {
        var out: [Int32] = []
        var byte: UInt8 = 0
        while read(readFD, &byte, 1) == 1 { out.append(Int32(byte)) }
        pendingSignals.store(0, ordering: .sequentiallyConsistent)
        // A signal that came between the reads and the store is still on the pipe.
        while read(readFD, &byte, 1) == 1 { out.append(Int32(byte)) }
        return out
    }
}

// Read by the signal handler, which may touch nothing but async-signal-safe state.
nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1
private let pendingSignals = Atomic<UInt64>(0)
