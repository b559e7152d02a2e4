import CBerth
import Glibc
import SystemPackage

/// A way to read files of a container's root filesystem as the container will see
/// them, without ever leaving that root: symbolic links (absolute ones too) resolve
/// inside it (openat2 RESOLVE_IN_ROOT), so a hostile root's `/etc/passwd -> /etc/shadow`
/// or `etc -> /etc` reads the root's own files or nothing, never the host's.
public protocol RootFiles: Sendable {
    /// The bytes of the regular file at `path` (absolute inside the root), nil when it
    /// does not exist. Throws when it exists but cannot be read, is not a regular file,
    /// or is larger than `limit` bytes.
    func contents(of path: String, limit: Int) throws -> [UInt8]?
}

/// The root as overlayfs will show it: directories stacked top first, each the
/// lower (or upper) directory of an overlay. A character device 0:0 is a whiteout
/// (the name is deleted there and below); a directory with the xattr
/// `trusted.overlay.opaque=y` hides what the layers below hold under it.
///
/// A `rootfs:` container is the one-layer case.
public struct LayeredRoot: RootFiles {
    /// Absolute host paths, top-most first.
    public var layers: [String]

    public init(layers: [String]) {
        self.layers = layers
    }

    /// One directory, as a `rootfs:` container has it.
    public init(directory: String) {
        self.init(layers: [directory])
    }

    public func contents(of path: String, limit: Int = 1 << 20) throws -> [UInt8]? {
        let parts = path.split(separator: "/").map(String.init)
        guard let name = parts.last else { return nil }
        let parent = "/" + parts.dropLast().joined(separator: "/")
        for layer in layers {
            let root = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            // A root that is not there holds no files (apply's preflight reports the root itself).
            if root < 0 && errno == ENOENT { continue }
            guard root >= 0 else { throw KernelError("open layer", layer, errno: Errno(rawValue: errno)) }
            defer { close(root) }
            switch try LayerLookup.entry(parts, in: root, layer: layer) {
            case .whiteout:
                return nil
            case .absent(let opaque):
                if opaque { return nil }
                continue
            case .present:
                break
            }
            let resolve = UInt64(CBERTH_RESOLVE_IN_ROOT | CBERTH_RESOLVE_NO_MAGICLINKS)
            let dir = cberth_openat2(root, parent, UInt64(O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0, resolve)
            guard dir >= 0 else { throw KernelError("open", layer + parent, errno: Errno(rawValue: errno)) }
            defer { close(dir) }
            // The last component may itself be a link: follow it inside the root too.
            let fd = cberth_openat2(root, parent + "/" + name, UInt64(O_RDONLY | O_CLOEXEC | O_NONBLOCK), 0, resolve)
            guard fd >= 0 else {
                if errno == ENOENT { return nil }
                throw KernelError("open", layer + path, errno: Errno(rawValue: errno))
            }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw KernelError("stat", layer + path, errno: Errno(rawValue: errno)) }
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw KernelError("read", layer + path, detail: "not a regular file")
            }
            guard st.st_size <= limit else {
                throw KernelError("read", layer + path, detail: "larger than \(limit) bytes")
            }
            return try ProcFS.readAll(FileDescriptor(rawValue: fd), name: layer + path)
        }
        return nil
    }
}

/// How a name appears in one layer, overlayfs rules.
enum LayerLookup {
    enum Found: Equatable {
        case present
        /// Deleted in this layer: lower layers do not count.
        case whiteout
        /// Not in this layer; `opaque` when a directory on the way hides the layers below.
        case absent(opaque: Bool)
    }

    /// Walks `parts` from `root` without following links (a link on the way is resolved
    /// by the caller inside the root; here it only counts as present).
    static func entry(_ parts: [String], in root: Int32, layer: String) throws -> Found {
        var dir = fcntl(root, F_DUPFD_CLOEXEC, 0)
        guard dir >= 0 else { throw KernelError("dup", layer, errno: Errno(rawValue: errno)) }
        defer { close(dir) }
        // An opaque directory anywhere on the way hides everything below it in lower layers.
        var opaque = isOpaque(dir)
        for (i, name) in parts.enumerated() {
            var st = stat()
            if fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                guard errno == ENOENT || errno == ENOTDIR else {
                    throw KernelError("stat", layer + "/" + parts[0...i].joined(separator: "/"), errno: Errno(rawValue: errno))
                }
                return .absent(opaque: opaque)
            }
            if isWhiteout(st) { return .whiteout }
            if i == parts.count - 1 || st.st_mode & S_IFMT == S_IFLNK { return .present }
            guard st.st_mode & S_IFMT == S_IFDIR else { return .absent(opaque: true) }
            let next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { throw KernelError("open", layer + "/" + parts[0...i].joined(separator: "/"), errno: Errno(rawValue: errno)) }
            close(dir)
            dir = next
            opaque = opaque || isOpaque(dir)
        }
        return .present
    }

    static func isWhiteout(_ st: stat) -> Bool {
        st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0
    }

    /// `trusted.overlay.opaque=y` on the directory open at `fd`.
    static func isOpaque(_ fd: Int32) -> Bool {
        var value = [UInt8](repeating: 0, count: 4)
        let n = fgetxattr(fd, "trusted.overlay.opaque", &value, value.count)
        return n == 1 && value[0] == UInt8(ascii: "y")
    }
}
