import CBerth
import Glibc
import Synchronization
import SystemPackage

/// The `berth-init` executable as the container runs it: a read-only view of it.
///
/// CVE-2019-5736: a process in the container that gets hold of `/proc/PID/exe`
/// of a runtime process could reopen it for writing once that process exits, and
/// replace the runtime on the host. berth execs `berth-init` from a *detached,
/// read-only* bind mount of that binary (open_tree + mount_setattr), so every
/// path to it, `/proc/PID/exe` included, refuses writes with EROFS, and nothing is
/// copied. Where the kernel lacks that (before 5.12) it falls back to a sealed
/// memfd copy, made once per process. berth init also makes itself non-dumpable
/// before anything else, so `/proc/1/exe` is not even readable in the container.
/// Only an absolute path is opened: root must never run a binary found relative to
/// wherever the caller stands (``InitExecutable`` falls back to the bare name when it
/// cannot resolve berth's own path).
enum SealedExecutable {
    private static let cache = Mutex<[String: Int32]>([:])

    /// An fd for execveat(AT_EMPTY_PATH); opened once per path and kept for the process's life.
    static func open(_ path: String) throws -> FileDescriptor {
        guard path.hasPrefix("/") else {
            throw KernelError("open", path, detail: "not an absolute path")
        }
        return try cache.withLock { cache in
            if let fd = cache[path] { return FileDescriptor(rawValue: fd) }
            let fd = try readOnlyClone(path) ?? sealedCopy(path)
            cache[path] = fd.rawValue
            return fd
        }
    }

    private static func readOnlyClone(_ path: String) throws -> FileDescriptor? {
        let fd = cberth_open_tree(AT_FDCWD, path, UInt32(CBERTH_OPEN_TREE_CLONE | CBERTH_OPEN_TREE_CLOEXEC))
        if fd < 0 {
            // Without open_tree (ENOSYS), or where it is refused (EPERM in a user namespace
            // without the mount), the sealed memfd copy is the other safe way: say nothing.
            // Anything else is a failure.
            guard errno == ENOSYS || errno == EPERM else {
                throw KernelError("open_tree", path, errno: Errno(rawValue: errno))
            }
            return nil
        }
        let attrs = UInt64(CBERTH_MOUNT_ATTR_RDONLY | CBERTH_MOUNT_ATTR_NODEV)
        guard cberth_mount_setattr(fd, "", UInt32(CBERTH_AT_EMPTY_PATH), attrs, 0) == 0 else {
            close(fd)
            return nil
        }
        return FileDescriptor(rawValue: fd)
    }

    private static func sealedCopy(_ path: String) throws -> FileDescriptor {
        let source = try ProcFS.openFile(path, .readOnly)
        defer { try? source.close() }
        let fd = cberth_memfd_create("berth", CBERTH_MFD_CLOEXEC | CBERTH_MFD_ALLOW_SEALING)
        guard fd >= 0 else { throw KernelError("memfd_create", path, errno: Errno(rawValue: errno)) }
        var st = stat()
        guard fstat(source.rawValue, &st) == 0 else {
            close(fd)
            throw KernelError("stat", path, errno: Errno(rawValue: errno))
        }
        var left = Int(st.st_size)
        while left > 0 {
            let n = sendfile(fd, source.rawValue, nil, left)
            guard n > 0 else {
                close(fd)
                throw KernelError("copy", path, errno: Errno(rawValue: errno))
            }
            left -= n
        }
        let seals = CBERTH_F_SEAL_SEAL | CBERTH_F_SEAL_SHRINK | CBERTH_F_SEAL_GROW | CBERTH_F_SEAL_WRITE
        guard fcntl(fd, CBERTH_F_ADD_SEALS, seals) == 0 else {
            close(fd)
            throw KernelError("seal", path, errno: Errno(rawValue: errno))
        }
        return FileDescriptor(rawValue: fd)
    }
}
