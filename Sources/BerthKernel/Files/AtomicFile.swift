import CBerth
import Glibc
import SystemPackage

/// Crash-safe replacement of a small file: the one writer of berth's records, the image
/// store's and the registry's index files.
///
/// The bytes go to a temp file beside the target (`.NAME.PID.tmp`), which is fsynced,
/// renamed over the target, and the directory fsynced: after a crash the file is the old
/// one or the new one, whole. A writer killed between create and rename leaves its temp
/// file; ``isLeftOfDeadWriter(_:)`` tells such a name, for the sweeps that remove them
/// (`StateStore.removeStaleTempFiles`, the registry layout's).
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically; the file gets `mode` (before the umask).
    /// `durable: false` skips both fsyncs: still whole (old or new) to every reader while
    /// the machine runs, but after a crash or power cut the file may be the old one or
    /// (the rename on disk before the bytes) empty; for records rewritten every few
    /// seconds whose loss costs little (health.json). It also exchanges the temp file with
    /// the target (renameat2 RENAME_EXCHANGE) instead of renaming over it: the replaced
    /// file stays as this writer's temp file and is overwritten by its next write, so no
    /// inode is created or freed per write (on ext4, allocating and freeing them was most
    /// of the cost of 100 health records a second). Where the target does not exist yet or
    /// the filesystem cannot exchange, it is a rename. The temp file stays while its
    /// writer lives; after, it is a dead writer's (``isLeftOfDeadWriter(_:)``).
    public static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o600,
                             durable: Bool = true) throws(KernelError) {
        let (dir, name) = split(path)
        let tmp = "\(dir)/\(temporaryName(for: name))"
        // Not durable: the temp file kept from the last write is overwritten and then cut to
        // length, not truncated first. ext4 writes out a file truncated to zero and rewritten
        // when it is closed (auto_da_alloc, for editors that replace files that way): a disk
        // write per record, on the path that skips fsync to have none.
        let fd = open(tmp, O_WRONLY | O_CREAT | (durable ? O_TRUNC : 0) | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw KernelError.lastError("create", tmp) }
        let written = Array(bytes).withUnsafeBytes { buffer -> Int32 in
            let failed = writeAll(fd, buffer)
            if failed != 0 { return failed }
            if !durable { return ftruncate(fd, off_t(buffer.count)) == 0 ? 0 : errno }
            // Before the rename: a rename that reached the disk before the bytes would leave
            // an empty file after a power cut (delayed allocation), neither the old nor the new.
            return fsync(fd) == 0 ? 0 : errno
        }
        close(fd)
        guard written == 0 else {
            unlink(tmp)
            throw KernelError("write", tmp, errno: Errno(rawValue: written))
        }
        // The old file becomes the next write's temp file. A reader that opened it still
        // reads it whole unless it holds it open until this writer's next write.
        if !durable, cberth_rename_exchange(tmp, path) == 0 { return }
        guard rename(tmp, path) == 0 else {
            let failure = KernelError.lastError("rename", path)
            unlink(tmp)
            throw failure
        }
        // The rename reaches the disk with the directory: once write returns, the new file
        // outlives a power cut (a record saying a `restart: never` job ran, or an image the
        // index lists, must not come back older and make the next apply do it again).
        if durable { syncDirectory(of: path) }
    }

    /// Writes all of `bytes` to `fd` (a short write continues, EINTR retries); 0 or the errno.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return 0
    }

    /// fsyncs the directory that holds `path`, so that a rename into it is durable.
    public static func syncDirectory(of path: String) {
        let fd = open(split(path).directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// `.NAME.PID.tmp`: hidden, and naming the process that writes it.
    public static func temporaryName(for name: String, pid: pid_t = getpid()) -> String {
        ".\(name).\(pid).tmp"
    }

    /// The writer's pid in a temp file name of ``temporaryName(for:pid:)``; nil for any other name.
    public static func writer(ofTemporary name: String) -> pid_t? {
        guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return nil }
        return name.dropLast(4).split(separator: ".").last.flatMap { pid_t($0) }
    }

    /// True for a temp file whose writer is gone (not this process, and no process of that
    /// pid exists): what a crash left, never a write in progress. Call with the lock that
    /// every writer of that directory holds, or a reused pid could pass for the writer.
    public static func isLeftOfDeadWriter(_ name: String) -> Bool {
        guard let pid = writer(ofTemporary: name), pid != getpid() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = path[..<slash]
        return (dir.isEmpty ? "/" : String(dir), String(path[path.index(after: slash)...]))
    }
}
