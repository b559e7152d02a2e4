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
/// Entries are queued as vectors (``LogBatch``) and written with one `writev(2)`: a
/// header rendered once per read and shared by the entries that have the same one, and
/// the content where it already is (the relay's read buffer, the held start of a line),
/// so that a byte is copied once on its way from the pipe to the file.
///
/// It never blocks the container on a full disk: an entry that cannot be written is
/// dropped and counted, and the next write that succeeds first records how much was lost.
struct LogWriter {
    private let dir: Int32
    private let rotation: LogRotation
    private var fd: Int32
    private var size: UInt64
    private let batch = LogBatch()
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
    }

    /// The time of the entries queued from now on (taken once per read).
    mutating func stamp(_ time: LogTime) { batch.stamp(time) }

    /// Queues one entry of the current stamp: `first` then `second` (either may be empty),
    /// then a newline unless `second` already ends with the line's own (`newline: false`).
    /// The bytes stay where they are until the next ``flush()``, which the caller makes
    /// before it reuses them; the batch is written sooner when it is full or the file must
    /// rotate first.
    mutating func append(stream: LogStream, complete: Bool, _ first: UnsafeRawBufferPointer,
                         _ second: UnsafeRawBufferPointer, newline: Bool) {
        let length = LogEntry.headerWidth + first.count + second.count + (newline ? 1 : 0)
        if rotation.maxSize > 0, size + UInt64(batch.bytes + length) > rotation.maxSize {
            flush()
            rotate()
        }
        if !batch.hasRoom { flush() }
        batch.append(stream: stream, complete: complete, first, second, newline: newline)
    }

    /// Writes what is queued. What does not fit (a full disk) is dropped whole
    /// entries at a time and counted; once an entry fits again, a marker before it says
    /// how much was lost.
    mutating func flush() {
        guard batch.entries > 0 else { return }
        defer { batch.reset() }
        if fd < 0 { reopen() }
        guard fd >= 0 else { return drop(from: 0, errno: EBADF) }
        var first = 0
        if dropped.lines > 0 {
            // The marker goes with the first entry that fits, so that a disk with room for
            // a marker only does not fill the log with markers.
            let note = "berth init: dropped \(dropped.lines) log lines (\(dropped.bytes) bytes): \(Errno(rawValue: dropped.errno))"
            var marker: [UInt8] = []
            Array(note.utf8).withUnsafeBytes {
                LogEntry.encode(time: LogTime.now().bytes, stream: .stderr, complete: true, content: $0, into: &marker)
            }
            let ok = marker.withUnsafeBytes { batch.withMarker($0) { write($0, $1) } }
            guard ok else { return drop(from: 0, errno: errno) }
            dropped = (0, 0, 0)
            first = 1
        }
        if first == batch.entries || write(batch.vectors(of: first..<batch.entries)) { return }
        // Not all of it fits: as many whole entries as do.
        for entry in first..<batch.entries {
            guard write(batch.vectors(of: entry..<(entry + 1))) else { return drop(from: entry, errno: errno) }
        }
    }

    private mutating func drop(from entry: Int, errno: Int32) {
        let lost = batch.entries - entry
        dropped.lines += lost
        dropped.bytes += batch.bytes(entry..<batch.entries)
        if dropped.errno == 0 { dropped.errno = errno }
        droppedTotal += lost
    }

    /// All of the vectors, or nothing (the file is cut back to where it was).
    private mutating func write(_ vectors: (UnsafeMutableBufferPointer<iovec>, bytes: Int)) -> Bool {
        write(vectors.0, vectors.bytes)
    }

    private mutating func write(_ vectors: UnsafeMutableBufferPointer<iovec>, _ bytes: Int) -> Bool {
        var done = 0
        var index = 0
        // Bytes of vectors[index] already written (a short write); the vector is put back as it was.
        var skip = 0
        while done < bytes {
            let saved = vectors[index]
            vectors[index].iov_base += skip
            vectors[index].iov_len -= skip
            let n = writev(fd, vectors.baseAddress! + index, Int32(vectors.count - index))
            vectors[index] = saved
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let saved = errno
                if done > 0 { _ = ftruncate(fd, off_t(size)) }
                errno = saved
                return false
            }
            done += n
            var left = n + skip
            while index < vectors.count, left >= vectors[index].iov_len, done < bytes {
                left -= vectors[index].iov_len
                index += 1
            }
            skip = left
        }
        size += UInt64(bytes)
        return true
    }

    /// container.log -> .1 -> .2 ...; the oldest beyond maxFiles goes.
    private mutating func rotate() {
        if rotation.maxFiles <= 1 {
            if ftruncate(fd, 0) == 0 { size = 0 }
            return
        }
        // The oldest is removed before the others move up, so that no rename replaces a file:
        // on ext4 a rename over an existing file starts the writeback of the renamed one
        // (auto_da_alloc), in the relay's time and its container's CPU quota.
        _ = unlinkat(dir, LogFiles.name(LogFiles.current, rotation.maxFiles - 1), 0)
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

/// The entries of one write: up to `IOV_MAX` vectors, each entry its header, its content
/// (one or two places) and, unless the content ends with it, a newline.
///
/// Vector 0 is kept for the marker of dropped lines. Headers live in the batch itself,
/// one per distinct (time, stream, flag) since the last write.
final class LogBatch {
    private static let maxVectors = 1024 // IOV_MAX
    private static let maxHeaders = 64
    private let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: maxVectors)
    /// The first vector of each entry, and one past the last entry's.
    private let starts = UnsafeMutablePointer<Int32>.allocate(capacity: maxVectors)
    /// Rendered headers, then the time being stamped, then a newline.
    private let storage = UnsafeMutableRawPointer.allocate(
        byteCount: maxHeaders * LogEntry.headerWidth + LogTime.width + 1, alignment: 8)
    private var used = 1
    private(set) var entries = 0
    private(set) var bytes = 0
    private var headers = 0
    /// The last header rendered for the current stamp: reused by the entries that have the same.
    private var last: (stream: LogStream, complete: Bool, at: UnsafeMutableRawPointer)? = nil

    init() {
        storage.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: Self.maxHeaders * LogEntry.headerWidth + LogTime.width,
                           as: UInt8.self)
        starts[0] = 1
    }

    deinit {
        vectors.deallocate()
        starts.deallocate()
        storage.deallocate()
    }

    private var time: UnsafeMutableRawPointer { storage + Self.maxHeaders * LogEntry.headerWidth }
    private var newline: UnsafeMutableRawPointer { time + LogTime.width }

    /// Room for one more entry of up to four vectors and its header.
    var hasRoom: Bool { used + 4 <= Self.maxVectors && headers < Self.maxHeaders }

    func stamp(_ now: LogTime) {
        now.render(into: time)
        last = nil
    }

    func append(stream: LogStream, complete: Bool, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
                newline addNewline: Bool) {
        let header: UnsafeMutableRawPointer
        if let last, last.stream == stream, last.complete == complete {
            header = last.at
        } else {
            header = storage + headers * LogEntry.headerWidth
            headers += 1
            LogEntry.renderHeader(time: time, stream: stream, complete: complete, into: header)
            last = (stream, complete, header)
        }
        add(header, LogEntry.headerWidth)
        if first.count > 0 { add(UnsafeMutableRawPointer(mutating: first.baseAddress!), first.count) }
        if second.count > 0 { add(UnsafeMutableRawPointer(mutating: second.baseAddress!), second.count) }
        if addNewline { add(newline, 1) }
        entries += 1
        starts[entries] = Int32(used)
    }

    private func add(_ base: UnsafeMutableRawPointer, _ count: Int) {
        vectors[used] = iovec(iov_base: base, iov_len: count)
        used += 1
        bytes += count
    }

    /// The vectors of `range` of the entries, and their bytes.
    func vectors(of range: Range<Int>) -> (UnsafeMutableBufferPointer<iovec>, bytes: Int) {
        (UnsafeMutableBufferPointer(start: vectors + Int(starts[range.lowerBound]),
                                    count: Int(starts[range.upperBound] - starts[range.lowerBound])),
         self.bytes(range))
    }

    func bytes(_ range: Range<Int>) -> Int {
        if range == 0..<entries { return bytes }
        var sum = 0
        for v in Int(starts[range.lowerBound])..<Int(starts[range.upperBound]) { sum += vectors[v].iov_len }
        return sum
    }

    /// `body` given `marker` and the first entry's vectors, and their bytes.
    func withMarker<R>(_ marker: UnsafeRawBufferPointer, _ body: (UnsafeMutableBufferPointer<iovec>, Int) -> R) -> R {
        vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: marker.baseAddress!), iov_len: marker.count)
        let first = vectors(of: 0..<1)
        return body(UnsafeMutableBufferPointer(start: vectors, count: first.0.count + 1), first.bytes + marker.count)
    }

    func reset() {
        used = 1
        entries = 0
        bytes = 0
        headers = 0
        last = nil
    }
}
