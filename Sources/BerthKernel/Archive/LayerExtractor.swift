import CArchive
import CBerth
import Glibc
import SystemPackage

/// What applying one layer did.
public struct LayerApplied: Sendable, Equatable {
    /// `sha256:` digest of the uncompressed tar: the layer's diff_id.
    public var diffID: String
    /// Uncompressed bytes read.
    public var bytes: UInt64
    public var entries: Int
    /// Character and block devices in the layer, not created (a container's root is nodev).
    public var skippedDevices: Int
}

/// Limits that stop a hostile layer from filling the disk (a tar bomb).
public struct LayerBudget: Sendable {
    /// Uncompressed bytes of one layer.
    public var bytes: UInt64
    public var entries: Int
    public init(bytes: UInt64 = 64 << 30, entries: Int = 5_000_000) {
        self.bytes = bytes
        self.entries = entries
    }
}

/// Unpacks an image layer (a tar, compressed or not) into an empty directory, in the form
/// overlayfs reads as a lower layer: an OCI whiteout `.wh.NAME` becomes a character device
/// 0:0 named NAME, an opaque marker `.wh..wh..opq` becomes `trusted.overlay.opaque=y` on
/// its directory.
///
/// Every entry is created relative to the layer's directory through file descriptors: its
/// parent is opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS),
/// its last component with the *at calls and O_NOFOLLOW. Absolute names and `..` are refused
/// before that; a parent that is a symbolic link (planted by an earlier entry) is refused;
/// hard links must name an earlier file of the same layer. Each layer gets its own directory,
/// so nothing an earlier layer planted is on the path of a later one.
public enum LayerExtractor {
    public static func apply(file: String, into directory: String, budget: LayerBudget = LayerBudget()) throws(ArchiveError) -> LayerApplied {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system(entry: nil, KernelError("open", file, errno: Errno(rawValue: errno))) }
        defer { close(fd) }
        let root = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard root >= 0 else { throw .system(entry: nil, KernelError("open", directory, errno: Errno(rawValue: errno))) }
        defer { close(root) }
        let stream = try ArchiveStream(fd: fd, budget: budget.bytes, what: file)
        var applier = Applier(root: root, stream: stream)
        var entries = 0
        while let entry = try stream.next() {
            entries += 1
            if entries > budget.entries { throw .tooManyEntries(limit: budget.entries) }
            try applier.apply(entry)
        }
        try applier.finishDirectories()
        let digest = try stream.finish()
        return LayerApplied(diffID: digest, bytes: stream.uncompressedBytes, entries: entries, skippedDevices: applier.skippedDevices)
    }
}

private struct Applier {
    let root: Int32
    let stream: ArchiveStream
    var skippedDevices = 0
    /// Directories' times and the root's metadata are set last: creating entries inside a
    /// directory changes its mtime.
    var directoryTimes: [(path: String, times: [timespec])] = []

    init(root: Int32, stream: ArchiveStream) {
        self.root = root
        self.stream = stream
    }

    static let resolve = UInt64(CBERTH_RESOLVE_IN_ROOT | CBERTH_RESOLVE_NO_MAGICLINKS | CBERTH_RESOLVE_NO_SYMLINKS)

    mutating func apply(_ entry: OpaquePointer) throws(ArchiveError) {
        let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        guard let path = TarEntryPath(name) else { throw .unsafeName(entry: name) }
        let type = archive_entry_filetype(entry)
        let hardlink = archive_entry_hardlink(entry).map { String(cString: $0) }

        let parentPath: String, leaf: String
        switch path {
        case .root:
            // The layer's root itself: only a directory may stand there (CVE-2021-29136).
            guard type == CARCHIVE_IFDIR, hardlink == nil else { throw .replacesRoot(entry: name) }
            try setMetadata(fd: root, entry, name: name)
            directoryTimes.append((".", times(entry)))
            return
        case .opaque(let directory):
            let dir = try openDirectory(directory, entry: name, create: true, readable: true)
            defer { close(dir) }
            try check(fsetxattr(dir, "trusted.overlay.opaque", "y", 1, 0), "set trusted.overlay.opaque on", directory.isEmpty ? "." : directory, entry: name)
            return
        case .bookkeeping(let parentPath):
            close(try openDirectory(parentPath, entry: name, create: true, readable: false))
            return
        case .whiteout(let parentPath, let hidden):
            let parent = try openDirectory(parentPath, entry: name, create: true, readable: false)
            defer { close(parent) }
            try removeExisting(parent, hidden, keepDirectory: false, entry: name)
            try check(mknodat(parent, hidden, S_IFCHR | 0o000, 0), "mknod whiteout", join(parentPath, hidden), entry: name)
            return
        case .entry(let p, let l):
            (parentPath, leaf) = (p, l)
        }
        let parent = try openDirectory(parentPath, entry: name, create: true, readable: false)
        defer { close(parent) }

        if let target = hardlink {
            guard let targetParts = TarEntryPath.components(target), let targetLeaf = targetParts.last else {
                throw .badHardlink(entry: name, target: target)
            }
            let targetParent = try openDirectory(targetParts.dropLast().joined(separator: "/"), entry: name, create: false, readable: false,
                                                 missing: .badHardlink(entry: name, target: target))
            defer { close(targetParent) }
            var st = stat()
            guard fstatat(targetParent, String(targetLeaf), &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT != S_IFDIR else {
                throw .badHardlink(entry: name, target: target)
            }
            try removeExisting(parent, leaf, keepDirectory: false, entry: name)
            try check(linkat(targetParent, String(targetLeaf), parent, leaf, 0), "link", join(parentPath, leaf), entry: name)
            return
        }

        switch type {
        case CARCHIVE_IFDIR:
            try removeExisting(parent, leaf, keepDirectory: true, entry: name)
            if mkdirat(parent, leaf, 0o700) != 0 && errno != EEXIST {
                throw .system(entry: name, KernelError("mkdir", join(parentPath, leaf), errno: Errno(rawValue: errno)))
            }
            let dir = openat(parent, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            try check(dir, "open", join(parentPath, leaf), entry: name)
            defer { close(dir) }
            try setMetadata(fd: dir, entry, name: name)
            directoryTimes.append((join(parentPath, leaf), times(entry)))
        case CARCHIVE_IFREG:
            try removeExisting(parent, leaf, keepDirectory: false, entry: name)
            let file = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            try check(file, "create", join(parentPath, leaf), entry: name)
            defer { close(file) }
            try writeData(to: file, entry, name: name)
            try setMetadata(fd: file, entry, name: name)
            var t = times(entry)
            try check(futimens(file, &t), "set times of", join(parentPath, leaf), entry: name)
        case CARCHIVE_IFLNK:
            try removeExisting(parent, leaf, keepDirectory: false, entry: name)
            // The target is data: the container resolves it inside its own root.
            let target = archive_entry_symlink(entry).map { String(cString: $0) } ?? ""
            try check(symlinkat(target, parent, leaf), "symlink", join(parentPath, leaf), entry: name)
            try check(fchownat(parent, leaf, uid_t(archive_entry_uid(entry)), gid_t(archive_entry_gid(entry)), AT_SYMLINK_NOFOLLOW),
                      "chown", join(parentPath, leaf), entry: name)
            var t = times(entry)
            try check(utimensat(parent, leaf, &t, AT_SYMLINK_NOFOLLOW), "set times of", join(parentPath, leaf), entry: name)
        case CARCHIVE_IFIFO:
            try removeExisting(parent, leaf, keepDirectory: false, entry: name)
            try check(mknodat(parent, leaf, S_IFIFO | 0o600, 0), "mkfifo", join(parentPath, leaf), entry: name)
            let fifo = openat(parent, leaf, CBERTH_O_PATH | O_NOFOLLOW | O_CLOEXEC)
            try check(fifo, "open", join(parentPath, leaf), entry: name)
            defer { close(fifo) }
            try check(fchownat(parent, leaf, uid_t(archive_entry_uid(entry)), gid_t(archive_entry_gid(entry)), AT_SYMLINK_NOFOLLOW),
                      "chown", join(parentPath, leaf), entry: name)
            try check(fchmodat(parent, leaf, mode_t(archive_entry_perm(entry)), 0), "chmod", join(parentPath, leaf), entry: name)
        case CARCHIVE_IFCHR, CARCHIVE_IFBLK:
            skippedDevices += 1
        default:
            break // sockets: nothing a layer can usefully carry
        }
    }

    /// Directory times last, deepest first, each reopened from the root as an entry would be.
    func finishDirectories() throws(ArchiveError) {
        for (path, t) in directoryTimes.reversed() {
            let fd = path == "." ? dup(root) : cberth_openat2(root, path, UInt64(O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0, Applier.resolve)
            guard fd >= 0 else { continue } // replaced by a later entry
            defer { close(fd) }
            var t = t
            try check(futimens(fd, &t), "set times of", path, entry: nil)
        }
    }

    /// Opens the directory `path` below the root, creating missing components as tar does for
    /// implicit parents; a symbolic link anywhere on the way is refused.
    func openDirectory(_ path: String, entry: String, create: Bool, readable: Bool, missing: ArchiveError? = nil) throws(ArchiveError) -> Int32 {
        let flags = UInt64((readable ? O_RDONLY : CBERTH_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        if path.isEmpty {
            let fd = readable ? openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : dup(root)
            try check(fd, "open", ".", entry: entry)
            return fd
        }
        let fd = cberth_openat2(root, path, flags, 0, Applier.resolve)
        if fd >= 0 { return fd }
        let err = errno
        if err == ELOOP { throw .throughSymlink(entry: entry) }
        if err == ENOTDIR { throw missing ?? .system(entry: entry, KernelError("open", path, errno: .notDirectory)) }
        guard err == ENOENT, create else {
            throw missing ?? .system(entry: entry, KernelError("open", path, errno: Errno(rawValue: err)))
        }
        var prefix = ""
        for part in path.split(separator: "/") {
            let parentPrefix = prefix
            prefix = join(prefix, String(part))
            let probe = cberth_openat2(root, prefix, UInt64(CBERTH_O_PATH | O_DIRECTORY | O_CLOEXEC), 0, Applier.resolve)
            if probe >= 0 { close(probe); continue }
            if errno == ELOOP { throw .throughSymlink(entry: entry) }
            guard errno == ENOENT else { throw .system(entry: entry, KernelError("open", prefix, errno: Errno(rawValue: errno))) }
            let parent = parentPrefix.isEmpty ? dup(root) : cberth_openat2(root, parentPrefix, UInt64(CBERTH_O_PATH | O_DIRECTORY | O_CLOEXEC), 0, Applier.resolve)
            try check(parent, "open", parentPrefix, entry: entry)
            defer { close(parent) }
            if mkdirat(parent, String(part), 0o755) != 0 && errno != EEXIST {
                throw .system(entry: entry, KernelError("mkdir", prefix, errno: Errno(rawValue: errno)))
            }
        }
        let made = cberth_openat2(root, path, flags, 0, Applier.resolve)
        if made < 0 && errno == ELOOP { throw .throughSymlink(entry: entry) }
        try check(made, "open", path, entry: entry)
        return made
    }

    /// A later entry replaces an earlier one of the same name (a directory stays when the
    /// new entry is a directory too, as tar does).
    func removeExisting(_ parent: Int32, _ leaf: String, keepDirectory: Bool, entry: String) throws(ArchiveError) {
        var st = stat()
        guard fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let isDirectory = st.st_mode & S_IFMT == S_IFDIR
        if isDirectory && keepDirectory { return }
        if isDirectory {
            do {
                try FileTree.removeContents(parent: parent, name: leaf)
            } catch {
                throw .system(entry: entry, error)
            }
            try check(unlinkat(parent, leaf, AT_REMOVEDIR), "remove", leaf, entry: entry)
        } else {
            try check(unlinkat(parent, leaf, 0), "remove", leaf, entry: entry)
        }
    }

    func writeData(to fd: Int32, _ entry: OpaquePointer, name: String) throws(ArchiveError) {
        while let (block, offset) = try stream.dataBlock() {
            var written = 0
            while written < block.count {
                let n = pwrite(fd, block.baseAddress! + written, block.count - written, off_t(offset) + off_t(written))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .system(entry: name, KernelError("write", name, errno: Errno(rawValue: errno)))
                }
                written += n
            }
        }
        // A sparse file's hole at the end has no block.
        if archive_entry_size_is_set(entry) != 0 {
            try check(ftruncate(fd, off_t(archive_entry_size(entry))), "truncate", name, entry: name)
        }
    }

    /// Owner, then mode (chown clears set-id bits), then extended attributes.
    func setMetadata(fd: Int32, _ entry: OpaquePointer, name: String) throws(ArchiveError) {
        try check(fchown(fd, uid_t(archive_entry_uid(entry)), gid_t(archive_entry_gid(entry))), "chown", name, entry: name)
        try check(fchmod(fd, mode_t(archive_entry_mode(entry)) & 0o7777), "chmod", name, entry: name)
        archive_entry_xattr_reset(entry)
        var key: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK, let key {
            let xattr = String(cString: key)
            // overlayfs reads trusted.overlay.* as instructions (redirects, opaque): only
            // berth writes those, from the whiteouts of the layer.
            if xattr.hasPrefix("trusted.overlay.") { continue }
            try check(fsetxattr(fd, xattr, value, size, 0), "set xattr \(xattr) on", name, entry: name)
        }
    }

    func times(_ entry: OpaquePointer) -> [timespec] {
        let mtime = timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry))
        let atime = archive_entry_atime_is_set(entry) != 0
            ? timespec(tv_sec: archive_entry_atime(entry), tv_nsec: archive_entry_atime_nsec(entry)) : mtime
        return [atime, mtime]
    }

    func check(_ result: Int32, _ step: String, _ object: String, entry: String?) throws(ArchiveError) {
        if result < 0 { throw .system(entry: entry, KernelError(step, object, errno: Errno(rawValue: errno))) }
    }

    func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : a + "/" + b }
}
