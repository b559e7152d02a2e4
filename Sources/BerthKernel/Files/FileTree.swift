import Glibc
import SystemPackage

/// Directory trees through file descriptors, never following a symbolic link: removing them,
/// and walking them as `find -P` does.
public enum FileTree {
    /// Empties the directory `name` of `parent` (which stays).
    public static func removeContents(parent: Int32, name: String) throws(KernelError) {
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw KernelError("open", name, errno: Errno(rawValue: errno)) }
        guard let dir = fdopendir(fd) else {
            close(fd)
            throw KernelError("opendir", name, errno: Errno(rawValue: errno))
        }
        defer { closedir(dir) }
        var names: [(String, Bool)] = []
        while let ent = readdir(dir) {
            let child = withUnsafeBytes(of: ent.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if child == "." || child == ".." { continue }
            names.append((child, ent.pointee.d_type == UInt8(DT_DIR)))
        }
        for (child, isDirectory) in names {
            if isDirectory {
                try removeContents(parent: fd, name: child)
                guard unlinkat(fd, child, AT_REMOVEDIR) == 0 else { throw KernelError("remove", child, errno: Errno(rawValue: errno)) }
            } else if unlinkat(fd, child, 0) != 0 {
                if errno == EISDIR {
                    try removeContents(parent: fd, name: child)
                    guard unlinkat(fd, child, AT_REMOVEDIR) == 0 else { throw KernelError("remove", child, errno: Errno(rawValue: errno)) }
                } else {
                    throw KernelError("remove", child, errno: Errno(rawValue: errno))
                }
            }
        }
    }

    /// Removes `path` and everything below it; nothing when it does not exist.
    public static func remove(_ path: String) throws(KernelError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw KernelError("stat", path, errno: Errno(rawValue: errno))
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            guard unlink(path) == 0 else { throw KernelError("remove", path, errno: Errno(rawValue: errno)) }
            return
        }
        let slash = path.lastIndex(of: "/")
        let parentPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let leaf = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let parent = open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { throw KernelError("open", parentPath, errno: Errno(rawValue: errno)) }
        defer { close(parent) }
        try removeContents(parent: parent, name: leaf)
        guard unlinkat(parent, leaf, AT_REMOVEDIR) == 0 else { throw KernelError("remove", path, errno: Errno(rawValue: errno)) }
    }

    /// Calls `body` with the path of every entry under `root` (relative to it, parents before
    /// their children) and its `lstat`. A directory is entered when `descend` of its relative
    /// path says so; one that cannot be opened is reported and not entered. A `root` that
    /// cannot be opened has no entries.
    public static func walk(_ root: String, descend: (String) -> Bool = { _ in true }, _ body: (String, stat) -> Void) {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        walk(fd, prefix: "", descend: descend, body)
    }

    /// Walks the directory open at `fd` (closed when done).
    private static func walk(_ fd: Int32, prefix: String, descend: (String) -> Bool, _ body: (String, stat) -> Void) {
        guard let stream = fdopendir(fd) else {
            close(fd)
            return
        }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let path = prefix + name
            body(path, st)
            guard st.st_mode & S_IFMT == S_IFDIR, descend(path) else { continue }
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if child >= 0 { walk(child, prefix: path + "/", descend: descend, body) }
        }
    }
}
