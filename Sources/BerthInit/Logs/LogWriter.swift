import Glibc
import SystemPackage

/// How much of a container's log berth keeps: the current file and rotated ones,
/// each at most `maxSize` bytes, `maxFiles` files in all.
public struct LogRotation: Codable, Sendable, Equatable, Hashable {
    /// Bytes per file; 0: one file that grows without bound.
    public var maxSize: UInt64
    /// Files kept, the current one included (at least 1; with 1, a full file starts over).
    public var maxFiles: Int

    public init(maxSize: UInt64, maxFiles: Int) {
        self.maxSize = maxSize
        self.maxFiles = maxFiles
    }

    /// 10 MiB times 3 files, as the spec's default.
    public static let standard = LogRotation(maxSize: 10 << 20, maxFiles: 3)
    /// Nothing is ever rotated away.
    public static let unbounded = LogRotation(maxSize: 0, maxFiles: 1)

    /// The longest piece of a line one entry holds: a longer line is written in pieces,
    /// so that an entry always fits in a file.
    var maxPiece: Int {
        guard maxSize > 0 else { return 16 << 10 }
        return Int(min(16 << 10, max(64, (maxSize / 4))))
    }
}

/// The names of a container's log files in its state directory.
public enum LogFiles {
    /// The log of the current run.
    public static let current = "container.log"
    /// The log of the run before (moved aside when a container is started again).
    public static let previous = "previous.log"

    /// `container.log`, `container.log.1` (newer) ... `container.log.N` (oldest).
    package static func name(_ base: String, _ index: Int) -> String { index == 0 ? base : "\(base).\(index)" }

    /// A run's files in the order they were written: the oldest rotated first, the current last.
    public static func paths(stateDir: String, previousRun: Bool = false) -> [String] {
        let base = previousRun ? previous : current
        var paths = [stateDir + "/" + base]
        var index = 1
        while access(stateDir + "/" + name(base, index), F_OK) == 0 {
            paths.append(stateDir + "/" + name(base, index))
            index += 1
        }
        return paths.reversed()
    }

    /// Before a new run: the current run's files become the previous run's (an older
    /// previous run goes), so that `berth logs --previous` shows the run that ended.
    /// An empty current log is left as it is.
    package static func startNewRun(in dir: Int32, stateDir: String) throws {
        var st = stat()
        guard fstatat(dir, current, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_size > 0 else { return }
        for name in indexedNames(previous, in: dir) {
            guard unlinkat(dir, name, 0) == 0 || errno == ENOENT else {
                throw KernelError("remove", stateDir + "/" + name, errno: Errno(rawValue: errno))
            }
        }
        for (index, name) in indexedNames(current, in: dir).enumerated() {
            guard renameat(dir, name, dir, Self.name(previous, index)) == 0 else {
                throw KernelError("rename", stateDir + "/" + name, errno: Errno(rawValue: errno))
            }
        }
    }

    /// base, base.1, base.2 ... while they exist.
    private static func indexedNames(_ base: String, in dir: Int32) -> [String] {
        var names: [String] = []
        var st = stat()
        while fstatat(dir, name(base, names.count), &st, AT_SYMLINK_NOFOLLOW) == 0 { names.append(name(base, names.count)) }
        return names
    }
}

/// The writer of a container's log: entries appended to `container.log` in the state
/// directory, rotated by size. Used by berth init, single-threaded.
///
/// It never blocks the container on a full disk: an entry that cannot be written is
/// dropped and counted, and the next write that succeeds first records how much was lost.
struct LogWriter {
    private let dir: Int32
    private let rotation: LogRotation
    private var fd: Int32
    private var size: UInt64
    private var pending: [UInt8] = []
    private var pendingEntries = 0
    /// Lines and bytes lost since the last successful write, and why.
    private(set) var dropped: (lines: Int, bytes: Int, errno: Int32) = (0, 0, 0)
    /// Lines lost over the run.
    private(set) var droppedTotal = 0
    /// The file written now (-1 while it cannot be opened).
    var currentFD: Int32 { fd }

    /// `fd`: the current log, open for appending (berth opened it; init may not be allowed to).
    init(dir: Int32, fd: Int32, rotation: LogRotation) {
        self.dir = dir
        self.fd = fd
        self.rotation = rotation
        var st = stat()
        size = fstat(fd, &st) == 0 ? UInt64(st.st_size) : 0
        pending.reserveCapacity(1 << 18)
    }

    /// Queues one entry (written at the next ``flush()``, or now when the file must rotate first).
    mutating func append(time: [UInt8], stream: LogStream, complete: Bool, content: UnsafeRawBufferPointer) {
        let length = content.count + LogEntry.overhead
        if rotation.maxSize > 0, size + UInt64(pending.count + length) > rotation.maxSize {
            flush()
            rotate()
        }
        LogEntry.encode(time: time, stream: stream, complete: complete, content: content, into: &pending)
        pendingEntries += 1
    }

    /// Writes what is queued. What does not fit (a full disk) is dropped whole
    /// entries at a time and counted; once an entry fits again, a marker before it says
    /// how much was lost.
    mutating func flush() {
        guard !pending.isEmpty else { return }
        defer {
            pending.removeAll(keepingCapacity: true)
            pendingEntries = 0
        }
        if fd < 0 { reopen() }
        guard fd >= 0 else { return drop(from: 0, entries: pendingEntries, errno: EBADF) }
        var start = 0
        var entries = pendingEntries
        if dropped.lines > 0 {
            // The marker goes with the first entry that fits, so that a disk with room for
            // a marker only does not fill the log with markers.
            let first = pending.firstIndex(of: UInt8(ascii: "\n"))! + 1
            let note = "berth init: dropped \(dropped.lines) log lines (\(dropped.bytes) bytes): \(Errno(rawValue: dropped.errno))"
            var marker: [UInt8] = []
            Array(note.utf8).withUnsafeBytes {
                LogEntry.encode(time: LogTime.now().bytes, stream: .stderr, complete: true, content: $0, into: &marker)
            }
            guard write((marker + pending[..<first])[...]) else { return drop(from: 0, entries: entries, errno: errno) }
            dropped = (0, 0, 0)
            start = first
            entries -= 1
        }
        if start == pending.count || write(pending[start...]) { return }
        // Not all of it fits: as many whole entries as do.
        while start < pending.count {
            let end = pending[start...].firstIndex(of: UInt8(ascii: "\n"))! + 1
            guard write(pending[start..<end]) else { return drop(from: start, entries: entries, errno: errno) }
            start = end
            entries -= 1
        }
    }

    private mutating func drop(from start: Int, entries: Int, errno: Int32) {
        dropped.lines += entries
        dropped.bytes += pending.count - start
        if dropped.errno == 0 { dropped.errno = errno }
        droppedTotal += entries
    }

    /// All of `bytes`, or nothing (the file is cut back to where it was).
    private mutating func write(_ bytes: ArraySlice<UInt8>) -> Bool {
        var done = 0
        let ok = bytes.withUnsafeBytes { buffer -> Bool in
            while done < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        if ok {
            size += UInt64(bytes.count)
        } else {
            let saved = errno
            if done > 0 { _ = ftruncate(fd, off_t(size)) }
            errno = saved
        }
        return ok
    }

    /// container.log -> .1 -> .2 ...; the oldest beyond maxFiles is overwritten.
    private mutating func rotate() {
        if rotation.maxFiles <= 1 {
            if ftruncate(fd, 0) == 0 { size = 0 }
            return
        }
        for index in stride(from: rotation.maxFiles - 1, through: 1, by: -1) {
            _ = renameat(dir, LogFiles.name(LogFiles.current, index - 1), dir, LogFiles.name(LogFiles.current, index))
        }
        if fd >= 0 { close(fd) }
        reopen()
    }

    private mutating func reopen() {
        fd = openat(dir, LogFiles.current, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        var st = stat()
        size = fd >= 0 && fstat(fd, &st) == 0 ? UInt64(st.st_size) : 0
    }
}
