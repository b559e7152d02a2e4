import CBerth
import Glibc
import SystemPackage

/// The container's mount table, made by berth init inside its new mount namespace.
///
/// Order: private propagation, the rootfs bound onto itself, /proc, /dev (+ pts,
/// shm, mqueue), /sys, the spec's mounts, pivot_root, masked and read-only paths,
/// then the read-only rootfs. Nothing here is visible outside the namespace.
package struct RootFilesystem {
    let config: ContainerConfig
    /// Always take the fallback of ``pivot(to:)`` (tests; real initramfs roots take it by themselves).
    let moveRoot: Bool

    package init(_ config: ContainerConfig, moveRoot: Bool = false) {
        self.config = config
        self.moveRoot = moveRoot
    }

    /// Hidden from the container: files get /dev/null bound over them, directories an empty read-only tmpfs.
    package static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    /// Visible but read-only.
    package static let readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// The device nodes of /dev: name, major, minor.
    static let devices: [(String, UInt32, UInt32)] = [
        ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
    ]

    package func setUp() throws {
        // Nothing we mount may propagate back to the host, and pivot_root wants private mounts.
        try Mounts.mount(nil, on: "/", type: nil, flags: Mounts.recursive | Mounts.privatePropagation,
                         what: "/ (make private)")
        if let overlay = config.overlay {
            try overlay.mount(on: config.rootfs)
        } else {
            try Mounts.mount(config.rootfs, on: config.rootfs, type: nil, flags: Mounts.bind | Mounts.recursive,
                             what: "rootfs \(config.rootfs)")
        }
        // berth keeps no devices cgroup, so CAP_MKNOD must not give a container a disk:
        // every mount it can write to is nodev, and /dev holds only bind-mounted nodes.
        try Mounts.restrict(config.rootfs, recursive: true, noDevices: true, what: "rootfs \(config.rootfs)")
        let root = try ProcFS.openFile(config.rootfs, .readOnly, options: [.directory])
        defer { try? root.close() }

        try mountProc(root)
        try mountDev(root)
        try mountSys(root)
        for entry in config.mounts { try mount(entry, root) }
        try Mounts.openInRoot(root, config.workdir, create: .directory).close()

        try pivot(to: root)

        for path in Self.maskedPaths { try mask(path) }
        for path in Self.readOnlyPaths { try bindReadOnly(path) }
        if config.readOnlyRootfs { try Mounts.makeReadOnly("/", recursive: false, what: "/ (readOnlyRootfs)") }
    }

    // MARK: - standard mounts

    private func mountProc(_ root: FileDescriptor) throws {
        let target = try Mounts.openInRoot(root, "/proc", create: .directory)
        defer { try? target.close() }
        do {
            try Mounts.mount("proc", on: Mounts.fdPath(target), type: "proc",
                             flags: Mounts.noSuid | Mounts.noDev | Mounts.noExec, what: "/proc")
        } catch let error as KernelError where error.errno == .notPermitted && !config.namespaces.contains(.pid) {
            // A user namespace without its own PID namespace may not mount proc: show the host's.
            try Mounts.mount("/proc", on: Mounts.fdPath(target), type: nil, flags: Mounts.bind | Mounts.recursive,
                             what: "/proc")
        }
    }

    private func mountDev(_ root: FileDescriptor) throws {
        let mountPoint = try Mounts.openInRoot(root, "/dev", create: .directory)
        try Mounts.mount("tmpfs", on: Mounts.fdPath(mountPoint), type: "tmpfs",
                         flags: Mounts.noSuid | Mounts.noDev | Mounts.strictAtime, data: "mode=755,size=65536k", what: "/dev")
        try mountPoint.close()
        let dev = try Mounts.openInRoot(root, "/dev")
        defer { try? dev.close() }
        let devPath = Mounts.fdPath(dev)

        for (name, _, _) in Self.devices {
            // /dev is nodev: each node is the host's, bind-mounted (a bind mount has flags of its own).
            let fd = openat(dev.rawValue, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw KernelError("create", "/dev/\(name)", errno: Errno(rawValue: errno)) }
            close(fd)
            try Mounts.mount("/dev/\(name)", on: "\(devPath)/\(name)", type: nil, flags: Mounts.bind,
                             what: "/dev/\(name)")
        }
        try bindDevices(root)
        let links = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")]
        for (name, target) in links {
            guard symlinkat(target, dev.rawValue, name) == 0 else {
                throw KernelError("symlink", "/dev/\(name)", errno: Errno(rawValue: errno))
            }
        }

        try makeDirectory(dev, "pts")
        do {
            try Mounts.mount("devpts", on: "\(devPath)/pts", type: "devpts", flags: Mounts.noSuid | Mounts.noExec,
                             data: "newinstance,ptmxmode=0666,mode=0620,gid=5", what: "/dev/pts")
        } catch let error as KernelError where error.errno == .invalidArgument {
            // gid 5 (tty) is not mapped in this user namespace.
            try Mounts.mount("devpts", on: "\(devPath)/pts", type: "devpts", flags: Mounts.noSuid | Mounts.noExec,
                             data: "newinstance,ptmxmode=0666,mode=0620", what: "/dev/pts")
        }
        try makeDirectory(dev, "shm")
        try Mounts.mount("shm", on: "\(devPath)/shm", type: "tmpfs",
                         flags: Mounts.noSuid | Mounts.noDev | Mounts.noExec, data: "mode=1777,size=65536k",
                         what: "/dev/shm")
        try makeDirectory(dev, "mqueue")
        do {
            try Mounts.mount("mqueue", on: "\(devPath)/mqueue", type: "mqueue",
                             flags: Mounts.noSuid | Mounts.noDev | Mounts.noExec, what: "/dev/mqueue")
        } catch let error as KernelError where error.errno == .notPermitted && !config.namespaces.contains(.ipc) {
            // The host's IPC namespace, not owned by our user namespace: no mqueue of our own.
        }
    }

    private func mountSys(_ root: FileDescriptor) throws {
        let target = try Mounts.openInRoot(root, "/sys", create: .directory)
        defer { try? target.close() }
        do {
            try Mounts.mount("sysfs", on: Mounts.fdPath(target), type: "sysfs",
                             flags: Mounts.readOnly | Mounts.noSuid | Mounts.noDev | Mounts.noExec, what: "/sys")
        } catch let error as KernelError where error.errno == .notPermitted {
            // A user namespace without its own network namespace may not mount sysfs:
            // bind the host's, read-only all the way down.
            try Mounts.mount("/sys", on: Mounts.fdPath(target), type: nil, flags: Mounts.bind | Mounts.recursive,
                             what: "/sys")
            let mounted = try Mounts.openInRoot(root, "/sys")
            defer { try? mounted.close() }
            try Mounts.makeReadOnly(Mounts.fdPath(mounted), recursive: true, what: "/sys")
        }
    }

    // MARK: - the spec's mounts

    private func mount(_ entry: MountEntry, _ root: FileDescriptor) throws {
        switch entry {
        case .bind(let source, let target, let readOnly):
            let point = try Mounts.openInRoot(root, target, create: try Self.mountPointKind(of: entry))
            defer { try? point.close() }
            try Mounts.mount(source, on: Mounts.fdPath(point), type: nil, flags: Mounts.bind | Mounts.recursive,
                             what: target)
            let mounted = try Mounts.openInRoot(root, target)
            defer { try? mounted.close() }
            try Mounts.restrict(Mounts.fdPath(mounted), recursive: true, readOnly: readOnly, noDevices: true, what: target)
        case .tmpfs(let target, let size, let readOnly):
            let point = try Mounts.openInRoot(root, target, create: .directory)
            defer { try? point.close() }
            let data = "mode=1777" + (size.map { ",size=\($0)" } ?? "")
            try Mounts.mount("tmpfs", on: Mounts.fdPath(point), type: "tmpfs",
                             flags: Mounts.noSuid | Mounts.noDev | (readOnly ? Mounts.readOnly : 0), data: data,
                             what: target)
        }
    }

    /// What the mount point of `entry` must be: a file for a file, a directory otherwise.
    static func mountPointKind(of entry: MountEntry) throws -> Mounts.Create {
        guard case .bind(let source, _, _) = entry else { return .directory }
        var st = stat()
        guard stat(source, &st) == 0 else {
            throw KernelError("bind mount source", source, errno: Errno(rawValue: errno))
        }
        return st.st_mode & S_IFMT == S_IFDIR ? .directory : .file
    }

    /// Creates every mount point (and the working directory) in the rootfs from the
    /// host side. berth init does it too, but in a user namespace it is an unmapped
    /// user to the rootfs's owner and may not; the parent, root on the host, may.
    package static func createMountPoints(_ config: ContainerConfig) throws {
        let root = try ProcFS.openFile(config.rootfs, .readOnly, options: [.directory])
        defer { try? root.close() }
        for path in ["/proc", "/dev", "/sys", config.workdir] {
            try Mounts.openInRoot(root, path, create: .directory).close()
        }
        for entry in config.mounts {
            try Mounts.openInRoot(root, entry.target, create: try mountPointKind(of: entry)).close()
        }
    }

    // MARK: - the switch

    private func pivot(to root: FileDescriptor) throws {
        let oldRoot = try ProcFS.openFile("/", .readOnly, options: [.directory])
        defer { try? oldRoot.close() }
        guard fchdir(root.rawValue) == 0 else { throw KernelError("chdir", config.rootfs, errno: Errno(rawValue: errno)) }
        if !moveRoot && cberth_pivot_root(".", ".") == 0 {
            // The old root now sits on top of the new one: step onto it and let it go.
            guard fchdir(oldRoot.rawValue) == 0 else {
                throw KernelError("chdir", "old root", errno: Errno(rawValue: errno))
            }
            guard umount2(".", Int32(MNT_DETACH)) == 0 else {
                throw KernelError("umount", "old root", errno: Errno(rawValue: errno))
            }
        } else if moveRoot || errno == EINVAL {
            // An initramfs root cannot be pivoted away from: move the rootfs over / and chroot.
            try Mounts.mount(".", on: "/", type: nil, flags: Mounts.move, what: "rootfs \(config.rootfs) onto /")
            guard chroot(".") == 0 else { throw KernelError("chroot", config.rootfs, errno: Errno(rawValue: errno)) }
        } else {
            throw KernelError("pivot_root", config.rootfs, errno: Errno(rawValue: errno))
        }
        guard chdir("/") == 0 else { throw KernelError("chdir", "/", errno: Errno(rawValue: errno)) }
    }

    // MARK: - hardening

    private func mask(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw KernelError("stat", path, errno: Errno(rawValue: errno))
        }
        if st.st_mode & S_IFMT == S_IFDIR {
            try Mounts.mount("tmpfs", on: path, type: "tmpfs", flags: Mounts.readOnly, what: path)
        } else {
            try Mounts.mount("/dev/null", on: path, type: nil, flags: Mounts.bind, what: path)
        }
    }

    private func bindReadOnly(_ path: String) throws {
        guard access(path, F_OK) == 0 else { return }
        try Mounts.mount(path, on: path, type: nil, flags: Mounts.bind | Mounts.recursive, what: path)
        try Mounts.makeReadOnly(path, recursive: true)
    }

    private func makeDirectory(_ dir: FileDescriptor, _ name: String) throws {
        guard mkdirat(dir.rawValue, name, 0o755) == 0 else {
            throw KernelError("mkdir", "/dev/\(name)", errno: Errno(rawValue: errno))
        }
    }
}
