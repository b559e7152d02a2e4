import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A cgroup directory held open while several of its files are read.
///
/// Observing a container reads a dozen small files in each v1 hierarchy; opened by
/// their full paths, the kernel walks (and revalidates on kernfs) seven components
/// for every one of them, which was most of the cost of the open. Opened relative to
/// the directory, each open walks one. Errors name the file's full path, as
/// ``CgroupFS`` does.
struct CgroupDirectory {
    let fd: Int32
    let path: String

    /// The directory, or nil when it does not exist (the cgroup is missing from
    /// this hierarchy); any other failure is an error.
    static func open(_ path: String) throws -> CgroupDirectory? {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { return CgroupDirectory(fd: fd, path: path) }
        let e = Errno(rawValue: errno)
        if e == .noSuchFileOrDirectory || e == .notDirectory { return nil }
        throw KernelError("open \(path)", "", errno: e)
    }

    func close() { _ = Glibc.close(fd) }

    /// The whole file; nil when it does not exist and `optional` is set.
    func read(_ name: String, optional: Bool = false) throws -> String? {
        let file = openat(fd, name, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else {
            let e = Errno(rawValue: errno)
            if optional, e == .noSuchFileOrDirectory { return nil }
            throw KernelError("read \(path)/\(name)", "", errno: e)
        }
        defer { _ = Glibc.close(file) }
        var out: [UInt8] = []
        // cgroup files hold a value or a few lines: one read(2) usually, and one for the end.
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            while true {
                let n = Glibc.read(file, buffer.baseAddress, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw KernelError("read \(path)/\(name)", "", errno: Errno(rawValue: errno))
                }
                if n == 0 { break }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<n]))
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// The file's content without surrounding whitespace.
    func readValue(_ name: String) throws -> String {
        try read(name)!.trimmingSpaces()
    }

    /// The file as an unsigned number.
    func readUInt64(_ name: String) throws -> UInt64 {
        try CgroupFS.number(readValue(name), in: path + "/" + name)
    }

    /// The file's value as a number, nil for "max".
    func readLimit(_ name: String) throws -> UInt64? {
        try CgroupFS.limit(readValue(name), in: path + "/" + name)
    }

    /// Pids listed in the directory's cgroup.procs.
    func readPids() throws -> [Int32] {
        try CgroupFS.pids(read("cgroup.procs")!, in: path + "/cgroup.procs")
    }
}
