import CBerth
import Glibc
import SystemPackage

/// mount(2) and friends, each failure a ``KernelError`` naming the step and the target.
enum Mounts {
    // <sys/mount.h> declares these as an anonymous enum; plain values read better here.
    static let readOnly: UInt = 1
    static let noSuid: UInt = 2
    static let noDev: UInt = 4
    static let noExec: UInt = 8
    static let remount: UInt = 32
    static let strictAtime: UInt = 1 << 24
    static let bind: UInt = 4096
    static let move: UInt = 8192
    static let recursive: UInt = 16384
    static let privatePropagation: UInt = 1 << 18
    static let slave: UInt = 1 << 19

    /// `what` names the mount in errors (e.g. the path inside the container)
    /// when `target` is a `/proc/self/fd/N` path.
    static func mount(_ source: String?, on target: String, type: String?, flags: UInt, data: String? = nil,
                      what: String? = nil) throws {
        guard Glibc.mount(source, target, type, flags, data) == 0 else {
            let step = type.map { "mount \($0)" } ?? (flags & bind != 0 ? "bind mount \(source ?? "")" : "mount")
            throw KernelError(step, what ?? target, errno: Errno(rawValue: errno))
        }
    }

    /// Makes the mount at `path` read-only without touching its other flags
    /// (in a user namespace, nosuid/nodev/noexec of an inherited mount are locked
    /// and a plain remount that drops them is refused).
    static func makeReadOnly(_ path: String, recursive: Bool, what: String? = nil) throws {
        try restrict(path, recursive: recursive, readOnly: true, what: what)
    }

    /// Adds read-only and/or nodev to a mount (and its submounts when `recursive`),
    /// keeping the flags it already has.
    static func restrict(_ path: String, recursive: Bool, readOnly makeReadOnly: Bool = false,
                         noDevices: Bool = false, what: String? = nil) throws {
        let flags = UInt32(CBERTH_AT_EMPTY_PATH) | (recursive ? UInt32(CBERTH_AT_RECURSIVE) : 0)
        let attributes = (makeReadOnly ? UInt64(CBERTH_MOUNT_ATTR_RDONLY) : 0) | (noDevices ? UInt64(CBERTH_MOUNT_ATTR_NODEV) : 0)
        let step = [makeReadOnly ? "make read-only" : nil, noDevices ? "make nodev" : nil].compactMap { $0 }
            .joined(separator: " and ")
        let fd = open(path, CBERTH_O_PATH | O_CLOEXEC | O_DIRECTORY)
        let fdOrFile = fd >= 0 ? fd : open(path, CBERTH_O_PATH | O_CLOEXEC)
        guard fdOrFile >= 0 else { throw KernelError("open", what ?? path, errno: Errno(rawValue: errno)) }
        defer { close(fdOrFile) }
        if cberth_mount_setattr(fdOrFile, "", flags, attributes, 0) == 0 { return }
        let err = Errno(rawValue: errno)
        guard err == .noFunction else {
            throw KernelError(step, what ?? path, errno: err)
        }
        // Before Linux 5.12: a bind remount, keeping the flags the mount already has.
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { throw KernelError("statvfs", what ?? path, errno: Errno(rawValue: errno)) }
        let kept = UInt(fs.f_flag) & (noSuid | noDev | noExec | readOnly)
        try mount(nil, on: path, type: nil,
                  flags: remount | bind | kept | (makeReadOnly ? readOnly : 0) | (noDevices ? noDev : 0), what: what)
    }

    /// The path through which mount(2) reaches what `fd` refers to.
    static func fdPath(_ fd: FileDescriptor) -> String { "/proc/self/fd/\(fd.rawValue)" }

    enum Create { case directory, file }

    /// Opens `path` inside `root` as an CBERTH_O_PATH fd, resolving every symbolic link
    /// as if `root` were `/` (openat2 RESOLVE_IN_ROOT): a link in the container's
    /// rootfs can never make berth mount over a host path. Missing components are
    /// created as directories, the last one as `create` says.
    static func openInRoot(_ root: FileDescriptor, _ path: String, create: Create? = nil) throws -> FileDescriptor {
        let resolve = UInt64(CBERTH_RESOLVE_IN_ROOT | CBERTH_RESOLVE_NO_MAGICLINKS)
        let pathFlags = UInt64(CBERTH_O_PATH | O_CLOEXEC)
        let fd = cberth_openat2(root.rawValue, path, pathFlags, 0, resolve)
        if fd >= 0 { return FileDescriptor(rawValue: fd) }
        guard errno == ENOENT, let create else {
            throw KernelError("open in container root", path, errno: Errno(rawValue: errno))
        }
        // Walk down, creating what is missing. Each prefix is resolved from root
        // again, so that a link in the middle means what it means in the container.
        let parts = path.split(separator: "/").map(String.init)
        let duplicate = fcntl(root.rawValue, F_DUPFD_CLOEXEC, 0)
        guard duplicate >= 0 else { throw KernelError("dup", path, errno: Errno(rawValue: errno)) }
        var parent = FileDescriptor(rawValue: duplicate)
        do {
            for (i, name) in parts.enumerated() {
                let prefix = "/" + parts[0...i].joined(separator: "/")
                var next = cberth_openat2(root.rawValue, prefix, pathFlags, 0, resolve)
                if next < 0 && errno == ENOENT {
                    if i == parts.count - 1 && create == .file {
                        let made = openat(parent.rawValue, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0o644)
                        if made >= 0 { close(made) } else if errno != EEXIST {
                            throw KernelError("create mount point", path, errno: Errno(rawValue: errno))
                        }
                    } else if mkdirat(parent.rawValue, name, 0o755) < 0 && errno != EEXIST {
                        throw KernelError("create mount point", path, errno: Errno(rawValue: errno))
                    }
                    next = cberth_openat2(root.rawValue, prefix, pathFlags, 0, resolve)
                }
                guard next >= 0 else { throw KernelError("open in container root", path, errno: Errno(rawValue: errno)) }
                try? parent.close()
                parent = FileDescriptor(rawValue: next)
            }
        } catch {
            try? parent.close()
            throw error
        }
        return parent
    }
}
