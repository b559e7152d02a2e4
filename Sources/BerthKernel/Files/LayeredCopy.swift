import CBerth
import Glibc
import SystemPackage

/// Copies what a directory of a container's root holds, as overlayfs would show it,
/// into another directory: how a new, empty volume is seeded from the content under
/// its mount target (as Docker does).
///
/// Layers are read top-most first; whiteouts (character devices 0:0) and opaque
/// directories (`trusted.overlay.opaque=y`) hide what lies below them, exactly as in
/// the container. Owners, modes, times, extended attributes (except overlayfs' own
/// `trusted.overlay.*`) and symbolic links are kept; hard links become separate files;
/// device nodes and sockets are skipped (volumes are mounted nodev). Nothing is ever
/// followed: every entry is opened relative to its directory with O_NOFOLLOW, the
/// target itself with RESOLVE_IN_ROOT, so a hostile root cannot make berth copy host files.
public enum LayeredCopy {
    /// What a copy did.
    public struct Report: Sendable, Equatable {
        /// Files, directories, links and fifos made.
        public var copied = 0
        /// Device nodes and sockets left out.
        public var skipped = 0
    }

    /// Copies `target` (absolute inside the root) of `layers` into the existing directory
    /// `destination`, which takes on the owner, mode and xattrs of the target directory.
    /// A target that does not exist, or is not a directory, copies nothing.
    public static func copy(_ target: String, of layers: [String], into destination: String) throws -> Report {
        let parts = target.split(separator: "/").map(String.init)
        var sources: [Int32] = []
        defer { sources.forEach { close($0) } }
        for layer in layers {
            let root = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard root >= 0 else { throw KernelError("open layer", layer, errno: Errno(rawValue: errno)) }
            defer { close(root) }
            let found = parts.isEmpty ? .present : try LayerLookup.entry(parts, in: root, layer: layer)
            if found == .whiteout { break }
            if case .absent(let opaque) = found {
                if opaque { break }
                continue
            }
            let resolve = UInt64(CBERTH_RESOLVE_IN_ROOT | CBERTH_RESOLVE_NO_MAGICLINKS)
            let fd = cberth_openat2(root, "/" + parts.joined(separator: "/"),
                                    UInt64(O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0, resolve)
            // Not a directory here: it hides the layers below, and there is nothing to copy.
            guard fd >= 0 else { break }
            sources.append(fd)
            if LayerLookup.isOpaque(fd) { break }
        }
        guard let top = sources.first else { return Report() }
        let dest = open(destination, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dest >= 0 else { throw KernelError("open", destination, errno: Errno(rawValue: errno)) }
        defer { close(dest) }
        var report = Report()
        try merge(sources, into: dest, path: destination, report: &report)
        var st = stat()
        guard fstat(top, &st) == 0 else { throw KernelError("stat", target, errno: Errno(rawValue: errno)) }
        try copyMetadata(from: top, st, to: dest, path: destination)
        return report
    }

    /// Entries of `dirs` (top first: a name in a higher one hides it in lower ones) into `dest`.
    private static func merge(_ dirs: [Int32], into dest: Int32, path: String, report: inout Report) throws {
        var seen: Set<String> = []
        var entries: [(name: String, layer: Int)] = []
        for (i, dir) in dirs.enumerated() {
            for name in try names(in: dir, path: path) where seen.insert(name).inserted {
                var st = stat()
                guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw KernelError("stat", "\(path)/\(name)", errno: Errno(rawValue: errno))
                }
                if !LayerLookup.isWhiteout(st) { entries.append((name, i)) }
            }
        }
        for (name, i) in entries {
            let dir = dirs[i], here = "\(path)/\(name)"
            var st = stat()
            guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw KernelError("stat", here, errno: Errno(rawValue: errno))
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                guard mkdirat(dest, name, 0o700) == 0 else { throw KernelError("mkdir", here, errno: Errno(rawValue: errno)) }
                let made = openat(dest, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard made >= 0 else { throw KernelError("open", here, errno: Errno(rawValue: errno)) }
                defer { close(made) }
                var below: [Int32] = []
                defer { below.forEach { close($0) } }
                let own = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard own >= 0 else { throw KernelError("open", here, errno: Errno(rawValue: errno)) }
                below.append(own)
                if !LayerLookup.isOpaque(own) {
                    // The same directory in lower layers shows through, down to the first
                    // layer where the name is something else, a whiteout, or opaque.
                    for lower in dirs[(i + 1)...] {
                        var ls = stat()
                        if fstatat(lower, name, &ls, AT_SYMLINK_NOFOLLOW) != 0 { continue }
                        guard ls.st_mode & S_IFMT == S_IFDIR else { break }
                        let fd = openat(lower, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                        guard fd >= 0 else { throw KernelError("open", here, errno: Errno(rawValue: errno)) }
                        below.append(fd)
                        if LayerLookup.isOpaque(fd) { break }
                    }
                }
                try merge(below, into: made, path: here, report: &report)
                try copyMetadata(from: own, st, to: made, path: here)
                report.copied += 1
            case S_IFREG:
                let src = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard src >= 0 else { throw KernelError("open", here, errno: Errno(rawValue: errno)) }
                defer { close(src) }
                let dst = openat(dest, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard dst >= 0 else { throw KernelError("create", here, errno: Errno(rawValue: errno)) }
                defer { close(dst) }
                try copyContents(src, dst, path: here)
                try copyMetadata(from: src, st, to: dst, path: here)
                report.copied += 1
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(dir, name, &buffer, buffer.count - 1)
                guard n >= 0 else { throw KernelError("readlink", here, errno: Errno(rawValue: errno)) }
                buffer[n] = 0
                guard symlinkat(buffer, dest, name) == 0 else { throw KernelError("symlink", here, errno: Errno(rawValue: errno)) }
                guard fchownat(dest, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw KernelError("chown", here, errno: Errno(rawValue: errno))
                }
                var times = [st.st_atim, st.st_mtim]
                _ = utimensat(dest, name, &times, AT_SYMLINK_NOFOLLOW)
                report.copied += 1
            case S_IFIFO:
                guard mkfifoat(dest, name, 0o600) == 0 else { throw KernelError("mkfifo", here, errno: Errno(rawValue: errno)) }
                let fd = openat(dest, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw KernelError("open", here, errno: Errno(rawValue: errno)) }
                defer { close(fd) }
                try copyMetadata(from: nil, st, to: fd, path: here)
                report.copied += 1
            default:
                report.skipped += 1
            }
        }
    }

    private static func names(in dir: Int32, path: String) throws -> [String] {
        let fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0, let stream = fdopendir(fd) else {
            throw KernelError("read directory", path, errno: Errno(rawValue: errno))
        }
        defer { closedir(stream) }
        var out: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }

    private static func copyContents(_ src: Int32, _ dst: Int32, path: String) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(src, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw KernelError("read", path, errno: Errno(rawValue: errno))
            }
            if n == 0 { return }
            var written = 0
            while written < n {
                let w = buffer[written..<n].withUnsafeBytes { write(dst, $0.baseAddress, $0.count) }
                if w < 0 {
                    if errno == EINTR { continue }
                    throw KernelError("write", path, errno: Errno(rawValue: errno))
                }
                written += w
            }
        }
    }

    /// Owner, then mode (chown clears set-id bits), then xattrs (chown clears file
    /// capabilities), then times (every write before it changes them).
    private static func copyMetadata(from src: Int32?, _ st: stat, to dst: Int32, path: String) throws {
        guard fchown(dst, st.st_uid, st.st_gid) == 0 else { throw KernelError("chown", path, errno: Errno(rawValue: errno)) }
        guard fchmod(dst, st.st_mode & 0o7777) == 0 else { throw KernelError("chmod", path, errno: Errno(rawValue: errno)) }
        if let src { try copyXattrs(src, dst, path: path) }
        var times = [st.st_atim, st.st_mtim]
        guard futimens(dst, &times) == 0 else { throw KernelError("utimens", path, errno: Errno(rawValue: errno)) }
    }

    private static func copyXattrs(_ src: Int32, _ dst: Int32, path: String) throws {
        let size = flistxattr(src, nil, 0)
        guard size > 0 else { return }
        var list = [CChar](repeating: 0, count: size)
        let n = flistxattr(src, &list, size)
        guard n > 0 else { return }
        let names = list[0..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        for name in names where !name.hasPrefix("trusted.overlay.") {
            let length = fgetxattr(src, name, nil, 0)
            guard length >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: max(length, 1))
            let got = fgetxattr(src, name, &value, value.count)
            guard got >= 0 else { continue }
            guard fsetxattr(dst, name, value, got, 0) == 0 else {
                throw KernelError("setxattr \(name)", path, errno: Errno(rawValue: errno))
            }
        }
    }
}
