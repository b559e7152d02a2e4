import FoundationEssentials
import Glibc

/// The project's lock: one apply or reconciler pass at a time.
///
/// flock(2) on `<state>/<project>/lock`, so that a holder that dies releases it
/// with its file descriptor. The holder writes its pid and command into the file
/// for the message a waiter prints.
///
/// The file can be removed while a waiter blocks on it (the last destroy of a
/// project removes the project's directory, its locks last): a lock taken on a
/// file that is no longer the one at the path is no lock at all, so after each
/// flock the descriptor's inode is compared with the path's and the lock is taken
/// again on the new file when they differ.
public final class ProjectLock: @unchecked Sendable {
    private var fd: Int32
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { release() }

    /// True while this lock is held.
    public var isHeld: Bool { fd >= 0 }

    public func release() {
        guard fd >= 0 else { return }
        ftruncate(fd, 0)
        close(fd) // closing the last fd releases the flock
        fd = -1
    }

    /// Removes the lock's file, then releases it. Call as the very last step under
    /// the lock: from the unlink on, a newcomer takes a lock of its own on a new file.
    func unlinkAndRelease() {
        guard fd >= 0 else { return }
        if Self.sameFile(fd, path) { unlink(path) }
        close(fd)
        fd = -1
    }

    /// Takes the lock, waiting up to `timeout` seconds. `onWait` is told once who holds it.
    public static func acquire(store: StateStore, project: String, command: String, timeout: Double,
                               name: String = "lock", onWait: (String) -> Void = { _ in }) throws -> ProjectLock {
        let dir = store.projectDirectory(project)
        let path = "\(dir)/\(name)"
        let deadline = Date().addingTimeInterval(timeout)
        var told = false
        while true {
            try StateStore.makeDirectories(dir)
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                // The directory went between mkdir and open (a destroy finishing): again.
                if errno == ENOENT { continue }
                throw StateError.errno("open \(path)")
            }
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK || errno == EINTR else {
                    let error = StateError.errno("lock \(path)")
                    close(fd)
                    throw error
                }
                let holder = holderDescription(path)
                if !told {
                    onWait("waiting for the lock on project \(project), held by \(holder)")
                    told = true
                }
                if Date() >= deadline {
                    close(fd)
                    throw StateError("lock \(path)", .lockHeld(holder: holder, waited: timeout))
                }
                usleep(20_000)
            }
            guard sameFile(fd, path) else {
                // Removed (and perhaps made again) while we waited: lock the file that is there now.
                close(fd)
                continue
            }
            let owner = "\(getpid()) \(command)\n"
            ftruncate(fd, 0)
            _ = owner.withCString { pwrite(fd, $0, strlen($0), 0) }
            return ProjectLock(fd: fd, path: path)
        }
    }

    /// Tries once; nil when another process holds it.
    public static func tryAcquire(store: StateStore, project: String, command: String,
                                  name: String = "lock") throws -> ProjectLock? {
        do {
            return try acquire(store: store, project: project, command: command, timeout: 0, name: name)
        } catch let e as StateError {
            if case .lockHeld = e.reason { return nil }
            throw e
        }
    }

    /// The open file is the one at the path (same device and inode).
    static func sameFile(_ fd: Int32, _ path: String) -> Bool {
        var open = stat(), named = stat()
        guard fstat(fd, &open) == 0, lstat(path, &named) == 0 else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// The holder as it wrote itself into the file: pid and command.
    static func holder(_ path: String) -> (pid: Int32, command: String)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        let parts = line.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let pid = Int32(parts[0]), pid > 0 else { return nil }
        return (pid, String(parts[1]))
    }

    static func holderDescription(_ path: String) -> String {
        guard let (pid, command) = holder(path) else { return "another berth" }
        return "pid \(pid) (berth \(command))"
    }
}
