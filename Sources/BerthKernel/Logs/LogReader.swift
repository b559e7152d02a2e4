import Glibc
import SystemPackage

/// Reads a container's log across its rotated files, for `berth logs`: whole lines
/// (pieces joined), oldest first, filtered by stream and time; once or following it.
public struct LogReader: Sendable {
    public var stateDir: String
    /// The run before the current one (`previous.log*`).
    public var previousRun: Bool

    /// Which lines to show.
    public struct Filter: Sendable {
        public var stream: LogStream?
        /// Lines written at or after this moment.
        public var since: LogTime?
        public init(stream: LogStream? = nil, since: LogTime? = nil) {
            self.stream = stream
            self.since = since
        }
        func admits(_ e: LogEntry) -> Bool {
            (stream == nil || e.stream == stream) && (since.map { e.time >= $0 } ?? true)
        }
    }

    public init(stateDir: String, previousRun: Bool = false) {
        self.stateDir = stateDir
        self.previousRun = previousRun
    }

    /// True when the run has a log file at all.
    public var exists: Bool { access(LogFiles.paths(stateDir: stateDir, previousRun: previousRun).last!, F_OK) == 0 }

    /// Every line of the run that passes `filter`, oldest first; the last `tail` of them when given.
    public func lines(_ filter: Filter = Filter(), tail: Int? = nil) throws -> [LogEntry] {
        var assembler = LineAssembler()
        var out: [LogEntry] = []
        for path in LogFiles.paths(stateDir: stateDir, previousRun: previousRun) {
            guard let file = try Cursor(path: path) else { continue }
            defer { file.close() }
            var cursor = file
            for e in try cursor.readEntries() { if let line = assembler.add(e), filter.admits(line) { out.append(line) } }
        }
        out += assembler.finish().filter(filter.admits)
        if let tail { return Array(out.suffix(tail)) }
        return out
    }

    /// Emits the run's lines (the last `tail` of them when given), then every line
    /// written after, until `shouldStop` returns true (asked after each wake-up, at
    /// least every `interval`): what was written before that is emitted too, also
    /// when the files are rotated or removed meanwhile (an open file is read to its end).
    public func follow(_ filter: Filter = Filter(), tail: Int? = nil, interval: Duration = .milliseconds(250),
                       until shouldStop: () -> Bool, emit: (LogEntry) throws -> Void) throws {
        let base = previousRun ? LogFiles.previous : LogFiles.current
        var assembler = LineAssembler()
        var backlog: [LogEntry] = []
        var current: Cursor? = nil
        for path in LogFiles.paths(stateDir: stateDir, previousRun: previousRun) {
            guard var file = try Cursor(path: path) else { continue }
            for e in try file.readEntries() { if let line = assembler.add(e), filter.admits(line) { backlog.append(line) } }
            if path.hasSuffix("/" + base) { current = file } else { file.close() }
        }
        for line in tail.map({ Array(backlog.suffix($0)) }) ?? backlog { try emit(line) }
        defer { current?.close() }

        // inotify on the directory: it sees writes to the file and the renames of a rotation.
        let watch = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
        defer { if watch >= 0 { close(watch) } }
        let watching = watch >= 0 && inotify_add_watch(
            watch, stateDir, UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE_SELF)) >= 0
        let ms = interval.pollMilliseconds
        while true {
            let stop = shouldStop()
            for e in try catchUp(&current, base: base) {
                if let line = assembler.add(e), filter.admits(line) { try emit(line) }
            }
            if stop {
                for line in assembler.finish() where filter.admits(line) { try emit(line) }
                return
            }
            if watching {
                var pfd = pollfd(fd: watch, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, ms)
                var events = [UInt8](repeating: 0, count: 4096)
                while events.withUnsafeMutableBytes({ read(watch, $0.baseAddress, $0.count) }) > 0 {}
            } else {
                var ts = timespec(tv_sec: Int(ms / 1000), tv_nsec: Int(ms % 1000) * 1_000_000)
                nanosleep(&ts, nil)
            }
        }
    }

    /// New entries of the file followed; after a rotation, the rest of it, the files
    /// rotated since, and the new current file.
    private func catchUp(_ current: inout Cursor?, base: String) throws -> [LogEntry] {
        var out: [LogEntry] = []
        if var file = current {
            out += try file.readEntries()
            current = file
        }
        let path = stateDir + "/" + base
        guard let head = FileID(path: path) else { return out } // between the renames of a rotation, or removed
        if let file = current, head == file.id { return out }
        // Rotated (or moved aside for a new run). The writer may be rotating again while we
        // look, so the files are taken only from a view that held still while they were
        // opened; otherwise the file followed stays open and the next round looks again.
        for _ in 0..<3 {
            guard let view = RotationView(stateDir: stateDir, base: base) else { return out }
            var newer: [(path: String, id: FileID)] = [] // newest first
            if let file = current {
                if let k = view.rotated.firstIndex(where: { $0.id == file.id }) {
                    newer = Array(view.rotated[..<k])
                } else if file.isRemoved {
                    newer = view.rotated // rotated past the last file kept: everything there is newer
                } // else moved aside for a new run: those files are not the ones followed
            }
            let wanted = newer.reversed() + [(path: path, id: view.head)]
            var opened: [Cursor] = []
            for (p, _) in wanted {
                guard let file = try Cursor(path: p) else { break }
                opened.append(file)
            }
            guard opened.map(\.id) == wanted.map(\.id), RotationView(stateDir: stateDir, base: base) == view else {
                for file in opened { file.close() }
                continue
            }
            // The writer is done with the file followed (it renames before it opens the next
            // one): what it wrote after the read above is read now.
            if var file = current {
                out += try file.readEntries()
                file.close()
            }
            for var file in opened.dropLast() {
                out += try file.readEntries()
                file.close()
            }
            var now = opened.last!
            out += try now.readEntries()
            current = now
            return out
        }
        return out
    }
}

/// Which file a path names (device and inode).
private struct FileID: Equatable {
    let device: dev_t
    let inode: ino_t

    init(device: dev_t, inode: ino_t) {
        self.device = device
        self.inode = inode
    }

    /// nil when nothing is there.
    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(device: st.st_dev, inode: st.st_ino)
    }
}

/// The current log file and the rotated ones (`.1`, `.2`, ...) as they are at one look;
/// nil while a rotation is half done (a gap in the numbers, or no current file).
private struct RotationView: Equatable {
    let head: FileID
    /// `.1` first.
    let rotated: [(path: String, id: FileID)]

    init?(stateDir: String, base: String) {
        guard let head = FileID(path: stateDir + "/" + base) else { return nil }
        var rotated: [(path: String, id: FileID)] = []
        var index = 1
        while true {
            let path = stateDir + "/" + LogFiles.name(base, index)
            guard let id = FileID(path: path) else { break }
            rotated.append((path, id))
            index += 1
        }
        // The writer renames from the oldest down: a number present past a gap is a rotation under way.
        if FileID(path: stateDir + "/" + LogFiles.name(base, index + 1)) != nil { return nil }
        self.head = head
        self.rotated = rotated
    }

    static func == (a: RotationView, b: RotationView) -> Bool {
        a.head == b.head && a.rotated.map(\.id) == b.rotated.map(\.id)
    }
}

/// An open log file and how far it has been read.
private struct Cursor {
    let fd: Int32
    let path: String
    let id: FileID
    var offset: off_t = 0
    /// The start of a line whose newline has not been read yet.
    var carry: [UInt8] = []

    /// nil when the file does not exist.
    init?(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 && errno == ENOENT { return nil }
        guard fd >= 0 else { throw KernelError("open", path, errno: Errno(rawValue: errno)) }
        var st = stat()
        fstat(fd, &st)
        self.fd = fd
        self.path = path
        id = FileID(device: st.st_dev, inode: st.st_ino)
    }

    func close() { _ = Glibc.close(fd) }

    /// True when the file has no name left (rotated past the last file kept).
    var isRemoved: Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && st.st_nlink == 0
    }

    /// The entries appended since the last call.
    mutating func readEntries() throws -> [LogEntry] {
        var st = stat()
        // Cut back (the writer truncates a lone file that is full): start over.
        if fstat(fd, &st) == 0 && off_t(st.st_size) < offset {
            offset = 0
            carry = []
        }
        var out: [LogEntry] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 18)
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw KernelError("read", path, errno: Errno(rawValue: errno)) }
            if n == 0 { return out }
            offset += off_t(n)
            var start = 0
            for i in 0..<n where buffer[i] == UInt8(ascii: "\n") {
                if carry.isEmpty {
                    out.append(Self.entry(buffer[start..<i]))
                } else {
                    carry += buffer[start..<i]
                    out.append(Self.entry(carry[...]))
                    carry = []
                }
                start = i + 1
            }
            carry += buffer[start..<n]
        }
    }

    /// A line that is not an entry (a log from before berth's format) is shown as it is.
    static func entry(_ line: ArraySlice<UInt8>) -> LogEntry {
        LogEntry(line: line) ?? LogEntry(time: LogTime(seconds: 0, nanoseconds: 0), stream: .stdout, content: Array(line))
    }
}

/// Joins the pieces (`P`) of a line to its last piece (`F`), stream by stream.
struct LineAssembler {
    private var pieces: [LogStream: LogEntry] = [:]

    /// The whole line when `e` completes one.
    mutating func add(_ e: LogEntry) -> LogEntry? {
        if var started = pieces[e.stream] {
            started.content += e.content
            started.complete = e.complete
            if !e.complete {
                pieces[e.stream] = started
                return nil
            }
            pieces[e.stream] = nil
            return started
        }
        if e.complete { return e }
        pieces[e.stream] = e
        return nil
    }

    /// Lines that never got their end (the command exited mid-line), oldest first.
    mutating func finish() -> [LogEntry] {
        defer { pieces = [:] }
        return pieces.values.sorted { $0.time < $1.time }
    }
}
