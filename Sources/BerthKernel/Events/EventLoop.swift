import CBerth
import Glibc
import Synchronization
import SystemPackage

/// What woke a ``EventWaiter``.
public enum WakeReason: Sendable, Equatable {
    /// A watched process exited (its pid).
    case processExited(Int32)
    /// The watched file was written, replaced or removed.
    case fileChanged
    /// Something in a watched directory was written (a file in it, by anyone), or an
    /// entry was created or removed in it, or it was removed itself: its tag, and the
    /// entry's name when the event names one.
    case directoryChanged(tag: String, entry: String?)
    /// The kernel dropped events (its queue overflowed): anything may have changed.
    case eventsLost
    /// A signal arrived (SIGTERM, SIGINT, SIGHUP, ...).
    case signal(Int32)
    /// rtnetlink or nftables said something changed (after ``EventWaiter/watchNetworks()``).
    case networkChanged(NetworkChange)
    /// A hostname was set, in some UTS namespace (after ``EventWaiter/watchHostnames()``).
    case hostnameChanged
    /// The timeout passed with nothing else happening.
    case timeout
}

/// Waits on processes, files, directories and signals at once, with one poll(2):
/// pidfds for the processes (no polling of /proc; held in one epoll set, so that a wake
/// costs the same with 1,000 containers as with one), inotify for the spec file (through
/// its directory: editors replace files by rename) and for cgroup directories (a
/// write(2) to a cgroup file raises IN_MODIFY on its directory, so a limit written by
/// hand is seen at once), /proc/sys/kernel/hostname for hostnames being set, and a
/// self-pipe written by the signal handler.
public final class EventWaiter: @unchecked Sendable {
    private var pidfds: [ProcessIdentity: Int32] = [:]
    /// The pidfds' epoll set, polled as one descriptor; -1 when it could not be made or
    /// refused one (the pidfds are then polled one by one).
    private var processSet: Int32 = cberth_epoll_create()
    /// Whose each pidfd is, for the ones the set says are ready.
    private var byPidFD: [Int32: ProcessIdentity] = [:]
    private var inotify: Int32 = -1
    private var fileDirectory: Int32 = -1
    private var watchedName: String?
    /// Watch descriptor -> (tag, path) of watched directories.
    private var directories: [Int32: (tag: String, path: String)] = [:]
    /// rtnetlink and nftables notifications, once ``watchNetworks()`` was called.
    private var network: NetworkEventSockets?
    /// `/proc/sys/kernel/hostname`, once ``watchHostnames()`` was called (else -1).
    private var hostnameFile: Int32 = -1

    public init() {}

    deinit {
        for fd in pidfds.values { close(fd) }
        if processSet >= 0 { close(processSet) }
        if inotify >= 0 { close(inotify) }
        if hostnameFile >= 0 { close(hostnameFile) }
    }

    // MARK: - processes

    /// Watches exactly these processes (by identity: a pid that was reused is not
    /// watched). Returns those that could not be watched because they are gone.
    @discardableResult
    public func watch(processes: [ProcessIdentity]) -> [ProcessIdentity] {
        let wanted = Set(processes)
        for (id, fd) in pidfds where !wanted.contains(id) {
            forget(id, fd)
        }
        var gone: [ProcessIdentity] = []
        for id in wanted where pidfds[id] == nil {
            // PidFD.open checks that the pid was not reused in between.
            guard let fd = try? PidFD.open(id) else {
                gone.append(id)
                continue
            }
            pidfds[id] = fd.rawValue
            byPidFD[fd.rawValue] = id
            // Ready at once if it already exited: the set says so at the next wait.
            if processSet >= 0, cberth_epoll_add(processSet, fd.rawValue) != 0 {
                close(processSet)
                processSet = -1
            }
        }
        return gone
    }

    private func forget(_ id: ProcessIdentity, _ fd: Int32) {
        // Explicitly: a child forked meanwhile may hold the file open past our close.
        if processSet >= 0 { _ = cberth_epoll_remove(processSet, fd) }
        close(fd)
        pidfds[id] = nil
        byPidFD[fd] = nil
    }

    /// True while `id` is watched and has not exited (as far as the last wait saw).
    public func isWatched(_ id: ProcessIdentity) -> Bool { pidfds[id] != nil }

    /// The hostnames of watched processes, read through their pidfds (setns(2) takes a
    /// pidfd since Linux 5.8), so that no pid can be mistaken and no /proc file is parsed:
    /// one short-lived thread joins each UTS namespace in turn, instead of a thread per
    /// process. Processes not watched, or whose namespace cannot be joined this way
    /// (older kernels), are read through /proc. Gone processes are left out.
    public func hostnames(of ids: [ProcessIdentity]) -> [ProcessIdentity: String] {
        let watched = ids.filter { pidfds[$0] != nil }
        let names = ProcFS.hostnames(inNamespaces: watched.map { pidfds[$0]! })
        var out: [ProcessIdentity: String] = [:]
        for (i, id) in watched.enumerated() {
            if let name = names[i] { out[id] = name }
        }
        for id in ids where out[id] == nil {
            if let name = try? ProcFS.hostname(of: id) { out[id] = name }
        }
        return out
    }

    /// Listens for hostnames being set. The kernel notifies the readers of
    /// `/proc/sys/kernel/hostname` (POLLPRI) whenever any UTS namespace's hostname is set,
    /// by sethostname(2) or through that file (`uts_proc_notify`, one notification for all
    /// namespaces): the hostnames need reading again only then, not on every pass.
    public func watchHostnames() throws {
        guard hostnameFile < 0 else { return }
        let fd = open("/proc/sys/kernel/hostname", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KernelError.lastError("open", "/proc/sys/kernel/hostname") }
        hostnameFile = fd
    }

    /// True once ``watchHostnames()`` succeeded.
    public var watchesHostnames: Bool { hostnameFile >= 0 }

    // MARK: - files and directories

    private func ensureInotify(_ what: String) throws {
        guard inotify < 0 else { return }
        inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard inotify >= 0 else { throw KernelError("inotify_init1", what, errno: Errno(rawValue: errno)) }
    }

    /// Watches a file for writes, replacement and removal (through its directory, since
    /// editors and config tools replace a file by renaming a new one over it).
    public func watch(file path: String) throws {
        try ensureInotify(path)
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        watchedName = slash.map { String(path[path.index(after: $0)...]) } ?? path
        // Not IN_CREATE: a file created in place is still empty then; its IN_CLOSE_WRITE follows.
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE)
        let wd = inotify_add_watch(inotify, dir, mask)
        guard wd >= 0 else { throw KernelError("inotify_add_watch", dir, errno: Errno(rawValue: errno)) }
        fileDirectory = wd
    }

    /// Watches a directory (a cgroup's): writes to its files, entries created or removed,
    /// its own removal. Watching it again is cheap (the kernel returns the same watch).
    /// A directory that does not exist is not watched (false).
    @discardableResult
    public func watch(directory path: String, tag: String) throws -> Bool {
        try ensureInotify(path)
        let mask = UInt32(IN_MODIFY | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
        let wd = inotify_add_watch(inotify, path, mask)
        guard wd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return false }
            throw KernelError("inotify_add_watch", path, errno: Errno(rawValue: errno))
        }
        directories[wd] = (tag, path)
        return true
    }

    /// Stops watching directories whose tag is not in `tags`.
    public func unwatchDirectories(keeping tags: Set<String>) {
        for (wd, entry) in directories where !tags.contains(entry.tag) {
            inotify_rm_watch(inotify, wd)
            directories[wd] = nil
        }
    }

    /// Paths of the directories watched now.
    public var watchedDirectories: [String] { directories.values.map(\.path).sorted() }

    // MARK: - networks

    /// Listens to the kernel's notifications of links, IPv4 addresses and routes (in the
    /// host's namespace and in every namespace the host has an id for) and of nftables
    /// changes, so that a networked project needs no full observation to notice drift.
    public func watchNetworks() throws {
        guard network == nil else { return }
        network = try NetworkEventSockets()
    }

    /// True once ``watchNetworks()`` succeeded.
    public var watchesNetworks: Bool { network != nil }

    // MARK: - waiting

    /// Waits until something happens or `timeout` seconds pass. With a timeout of 0,
    /// collects what is pending without waiting.
    public func wait(timeout: Double) -> [WakeReason] {
        var fds: [pollfd] = [pollfd(fd: SignalPipe.shared.readFD, events: Int16(POLLIN), revents: 0)]
        if inotify >= 0 { fds.append(pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)) }
        // POLLPRI (with POLLERR) when a hostname was set since the last poll that said so;
        // the file is always readable, so not POLLIN.
        if hostnameFile >= 0 { fds.append(pollfd(fd: hostnameFile, events: Int16(POLLPRI), revents: 0)) }
        if let network {
            fds.append(pollfd(fd: network.route, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: network.netfilter, events: Int16(POLLIN), revents: 0))
        }
        let pids = processSet >= 0 ? [] : Array(pidfds)
        if processSet >= 0 {
            fds.append(pollfd(fd: processSet, events: Int16(POLLIN), revents: 0))
        } else {
            for (_, fd) in pids { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        }
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
            if fds[1].revents != 0 { out += drainInotify() }
            next = 2
        }
        if hostnameFile >= 0 {
            if fds[next].revents != 0 { out.append(.hostnameChanged) }
            next += 1
        }
        if let network {
            if fds[next].revents != 0 {
                if let changes = network.drainRoute() {
                    out += changes.map(WakeReason.networkChanged)
                } else {
                    out.append(.eventsLost)
                }
            }
            if fds[next + 1].revents != 0, network.drainNetfilter() { out.append(.networkChanged(.firewall)) }
            next += 2
        }
        if processSet >= 0 {
            if fds[next].revents != 0 { out += drainExited() }
        } else {
            for (i, (id, fd)) in pids.enumerated() where fds[next + i].revents != 0 {
                forget(id, fd)
                out.append(.processExited(id.pid))
            }
        }
        return out.isEmpty ? [.timeout] : out
    }

    /// The watched processes the epoll set says exited; each is watched no more.
    private func drainExited() -> [WakeReason] {
        var out: [WakeReason] = []
        var ready = [Int32](repeating: -1, count: 64)
        while true {
            let n = ready.withUnsafeMutableBufferPointer { cberth_epoll_ready(processSet, $0.baseAddress, Int32($0.count)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            for fd in ready[0..<Int(n)] {
                guard let id = byPidFD[fd] else {
                    _ = cberth_epoll_remove(processSet, fd)
                    continue
                }
                forget(id, fd)
                out.append(.processExited(id.pid))
            }
            if n < ready.count { break }
        }
        return out
    }

    // The kernel writes these itself (kernfs_notify on cgroup v2: populated, oom, pressure
    // events); they say nothing about limits, and they can come often.
    private static func isKernelNotified(_ name: String) -> Bool {
        name.hasSuffix(".events") || name.hasSuffix(".events.local") || name.hasSuffix(".pressure")
    }

    private func drainInotify() -> [WakeReason] {
        var out: [WakeReason] = []
        var fileHit = false
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            var off = 0
            while off + MemoryLayout<inotify_event>.size <= n {
                let (ev, name): (inotify_event, String) = buf.withUnsafeBytes { raw in
                    let ev = raw.loadUnaligned(fromByteOffset: off, as: inotify_event.self)
                    let start = off + MemoryLayout<inotify_event>.size
                    let bytes = raw[start..<min(start + Int(ev.len), n)].prefix { $0 != 0 }
                    return (ev, String(decoding: bytes, as: UTF8.self))
                }
                off += MemoryLayout<inotify_event>.size + Int(ev.len)
                if ev.mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    out.append(.eventsLost)
                } else if ev.wd == fileDirectory {
                    if name == watchedName { fileHit = true }
                } else if let dir = directories[ev.wd] {
                    if ev.mask & UInt32(IN_IGNORED) != 0 {
                        // Removed (or unwatched): the kernel dropped the watch.
                        directories[ev.wd] = nil
                        out.append(.directoryChanged(tag: dir.tag, entry: nil))
                    } else if ev.mask & UInt32(IN_MODIFY) != 0, Self.isKernelNotified(name) {
                        continue
                    } else {
                        out.append(.directoryChanged(tag: dir.tag, entry: name.isEmpty ? nil : name))
                    }
                }
            }
        }
        if fileHit { out.append(.fileChanged) }
        return out
    }
}

/// Signals delivered as bytes on a pipe, so that a poll loop sees them.
public final class SignalPipe: @unchecked Sendable {
    public static let shared = SignalPipe()
    public let readFD: Int32
    let writeFD: Int32

    /// Why the pipe could not be made, reported by ``listen(to:)``.
    let setupError: KernelError?

    private init() {
        var fds: [Int32] = [-1, -1]
        setupError = cberth_pipe2(&fds, O_CLOEXEC | O_NONBLOCK) == 0
            ? nil : KernelError("pipe2", "signal pipe", errno: Errno(rawValue: errno))
        readFD = fds[0]
        writeFD = fds[1]
        signalPipeWriteFD = fds[1]
    }

    /// Routes these signals to the pipe (and no longer to their default action), and
    /// unblocks them: a parent may have started berth with them blocked. A failure
    /// (no pipe, a signal that cannot be caught) is an error naming the step.
    public func listen(to signals: [Int32]) throws {
        if let setupError { throw setupError }
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
            guard sigaction(sig, &action, nil) == 0 else {
                throw KernelError("sigaction", "signal \(sig)", errno: Errno(rawValue: errno))
            }
        }
        // Unblocked only once every handler is in place: one pending meanwhile is caught, not fatal.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in signals { sigaddset(&set, sig) }
        let rc = pthread_sigmask(SIG_UNBLOCK, &set, nil)
        guard rc == 0 else { throw KernelError("pthread_sigmask", "unblock signals", errno: Errno(rawValue: rc)) }
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
        pendingSignals.store(0, ordering: .sequentiallyConsistent)
        // Cleared first: a signal that comes during the reads sets its bit again.
        while read(readFD, &byte, 1) == 1 { out.append(Int32(byte)) }
        return out
    }
}

// Read by the signal handler, which may touch nothing but async-signal-safe state.
nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1
private let pendingSignals = Atomic<UInt64>(0)
