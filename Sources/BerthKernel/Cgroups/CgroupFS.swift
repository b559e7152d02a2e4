import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// File operations on cgroupfs, shared by both drivers. Each failure is a
/// `KernelError` naming the file (and the value, for writes).
enum CgroupFS {
    /// Writes one value with a single write(2): cgroup files take a value per write,
    /// and a value split over two writes would be two (wrong) values. O_TRUNC changes
    /// nothing on cgroupfs (a shell's `>` sets it too) and lets a plain file stand in
    /// for a cgroup file in tests.
    static func write(_ value: String, to path: String) throws {
        let operation = "write \(path) (\"\(value)\")"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.closeOnExec, .truncate])
        } catch let e as Errno {
            throw KernelError(operation, "", errno: e)
        }
        defer { try? fd.close() }
        let bytes = Array(value.utf8)
        let written: Int
        do {
            written = try bytes.withUnsafeBytes { try fd.write($0) }
        } catch let e as Errno {
            throw KernelError(operation, "", errno: e)
        }
        if written != bytes.count {
            throw KernelError(operation, "", detail: "short write: \(written) of \(bytes.count) bytes")
        }
    }

    /// The whole file.
    static func read(_ path: String) throws -> String {
        do {
            let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
            defer { try? fd.close() }
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
                if n == 0 { break }
                out.append(contentsOf: buffer[0..<n])
            }
            return String(decoding: out, as: UTF8.self)
        } catch let e as Errno {
            throw KernelError("read \(path)", "", errno: e)
        }
    }

    /// The file's content without surrounding whitespace.
    static func readValue(_ path: String) throws -> String {
        try read(path).trimmingSpaces()
    }

    /// The file as an unsigned number.
    static func readUInt64(_ path: String) throws -> UInt64 {
        try number(readValue(path), in: path)
    }

    /// The file's value as a number, nil for "max".
    static func readLimit(_ path: String) throws -> UInt64? {
        try limit(readValue(path), in: path)
    }

    /// "key value" lines (cpu.stat, memory.events, memory.oom_control) as a dictionary.
    static func readKeyed(_ path: String) throws -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in try read(path).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let n = UInt64(parts[1]) { out[String(parts[0])] = n }
        }
        return out
    }

    /// Pids listed in a cgroup.procs file.
    static func readPids(_ path: String) throws -> [Int32] {
        try pids(read(path), in: path)
    }

    // What a cgroup file's text means, for the readers by path (above) and by an open
    // directory (``CgroupDirectory``); `path` names the file in errors.

    /// A value that must be an unsigned number.
    static func number(_ text: String, in path: String) throws -> UInt64 {
        guard let n = UInt64(text) else { throw parseError(path, text, "is not a number") }
        return n
    }

    /// A limit: a number, or nil for "max".
    static func limit(_ text: String, in path: String) throws -> UInt64? {
        if text == "max" { return nil }
        guard let n = UInt64(text) else { throw parseError(path, text, "is neither a number nor max") }
        return n
    }

    /// One pid per line (cgroup.procs).
    static func pids(_ text: String, in path: String) throws -> [Int32] {
        var pids: [Int32] = []
        for line in text.split(separator: "\n") {
            guard let pid = Int32(line) else { throw parseError(path, String(line), "is not a pid") }
            pids.append(pid)
        }
        return pids
    }

    static func parseError(_ path: String, _ text: String, _ what: String) -> KernelError {
        KernelError("parse \(path)", "", detail: "\"\(text)\" \(what)")
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// mkdir; an existing directory is fine. Returns whether it was created.
    @discardableResult
    static func makeDirectory(_ path: String) throws -> Bool {
        if mkdir(path, 0o755) == 0 { return true }
        let e = Errno(rawValue: errno)
        if e == .fileExists, isDirectory(path) { return false }
        throw KernelError("mkdir \(path)", "", errno: e)
    }

    /// rmdir; a directory already gone is fine. Retries EBUSY for a moment, as a
    /// cgroup stays busy while its last killed processes finish exiting.
    static func removeDirectory(_ path: String) throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(2))
        var delay = Duration.milliseconds(1)
        while true {
            if rmdir(path) == 0 { return }
            let e = Errno(rawValue: errno)
            if e == .noSuchFileOrDirectory { return }
            if e == .resourceBusy, ContinuousClock.now < deadline {
                pause(delay)
                delay = min(delay * 2, .milliseconds(50))
                continue
            }
            throw KernelError("rmdir \(path)", "", errno: e)
        }
    }

    /// Names of the subdirectories (the child cgroups), sorted.
    static func subdirectories(of path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            throw KernelError("list \(path)", "", errno: Errno(rawValue: errno))
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let type = entry.pointee.d_type
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name != ".", name != ".." else { continue }
            if type == UInt8(DT_DIR) || (type == UInt8(DT_UNKNOWN) && isDirectory(path + "/" + name)) {
                names.append(name)
            }
        }
        return names.sorted()
    }

    /// Every cgroup directory in the subtree at `path`, deepest first (the order rmdir needs).
    static func subtreeDeepestFirst(_ path: String) throws -> [String] {
        guard isDirectory(path) else { return [] }
        var out: [String] = []
        for child in try subdirectories(of: path) {
            out += try subtreeDeepestFirst(path + "/" + child)
        }
        out.append(path)
        return out
    }

    /// Checks a relative cgroup path: not empty, not absolute, no empty, "." or ".."
    /// components, no NUL or newline. Returns its components.
    @discardableResult
    static func validate(_ path: String) throws -> [String] {
        func bad(_ why: String) -> KernelError { KernelError("cgroup path \"\(path)\"", "", detail: why) }
        if path.isEmpty { throw bad("is empty") }
        if path.hasPrefix("/") { throw bad("must be relative") }
        if path.utf8.contains(0) || path.contains("\n") { throw bad("contains a NUL or newline") }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for c in components {
            if c.isEmpty { throw bad("has an empty component") }
            if c == "." || c == ".." { throw bad("has a \"\(c)\" component") }
        }
        return components
    }

    /// Signals a process; a process already gone is fine.
    static func sendSignal(_ signal: Int32, to pid: Int32) throws {
        if kill(pid, signal) == 0 { return }
        let e = Errno(rawValue: errno)
        if e == .noSuchProcess { return }
        throw KernelError("kill", "\(pid)", errno: e)
    }

    static func pause(_ d: Duration) {
        let (seconds, attoseconds) = d.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    /// Polls `done` with a growing interval until it holds or the deadline passes.
    static func poll(until deadline: ContinuousClock.Instant, _ done: () throws -> Bool) rethrows -> Bool {
        var delay = Duration.microseconds(200)
        while true {
            if try done() { return true }
            if ContinuousClock.now >= deadline { return false }
            pause(delay)
            delay = min(delay * 2, .milliseconds(20))
        }
    }

    static let pageSize: UInt64 = UInt64(sysconf(Int32(_SC_PAGESIZE)))

    /// The kernel keeps memory limits in whole pages, rounding a byte value down.
    static func pageRounded(_ bytes: UInt64) -> UInt64 { bytes / pageSize * pageSize }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// The kernel's CPU list format ("0-2,5").
package enum CPUList {
    /// The CPUs of a list; nil when malformed.
    package static func parse(_ text: String) -> [Int]? {
        let t = text.trimmingSpaces()
        if t.isEmpty { return [] }
        var cpus = Set<Int>()
        for part in t.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2, let lo = Int(bounds[0]), lo >= 0 else { return nil }
            let hi = bounds.count == 2 ? Int(bounds[1]) : lo
            guard let hi, hi >= lo, hi - lo < 65536 else { return nil }
            cpus.formUnion(lo...hi)
        }
        return cpus.sorted()
    }

    /// The kernel's own rendering: ascending ranges joined by commas.
    package static func format(_ cpus: [Int]) -> String {
        let sorted = Array(Set(cpus)).sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count, sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// The list as the kernel will print it back; the text unchanged when malformed
    /// (the kernel will refuse it, and apply reports that).
    package static func canonical(_ text: String) -> String {
        parse(text).map(format) ?? text
    }
}
