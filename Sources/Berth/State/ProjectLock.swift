import Foundation
import Glibc

/// The project's lock: one apply or reconciler pass at a time.
///
/// flock(2) on `<state>/<project>/lock`, so that a holder that dies releases it
/// with its file descriptor. The holder writes its pid and command into the file
/// for the message a waiter prints.
public final class ProjectLock: @unchecked Sendable {
    private var fd: Int32
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { release() }

    public func release() {
        guard fd >= 0 else { return }
        ftruncate(fd, 0)
        close(fd) // closing the last fd releases the flock
        fd = -1
    }

    /// Takes the lock, waiting up to `timeout` seconds. `onWait` is told once who holds it.
    public static func acquire(store: StateStore, project: String, command: String, timeout: Double,
                               name: String = "lock", onWait: (String) -> Void = { _ in }) throws -> ProjectLock {
        let dir = store.projectDirectory(project)
        try StateStore.makeDirectories(dir)
        let path = "\(dir)/\(name)"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateError("open \(path)", String(cString: strerror(errno))) }
        let deadline = Date().addingTimeInterval(timeout)
        var told = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let e = errno
                close(fd)
                throw StateError("lock \(path)", String(cString: strerror(e)))
            }
            let holder = holderDescription(path)
            if !told {
                onWait("waiting for the lock on project \(project), held by \(holder)")
                told = true
            }
            if Date() >= deadline {
                close(fd)
                throw StateError("lock \(path)",
                                 "still held by \(holder) after \(Int(timeout))s; try again when it is done")
            }
            usleep(20_000)
        }
        let owner = "\(getpid()) \(command)\n"
        ftruncate(fd, 0)
        _ = owner.withCString { pwrite(fd, $0, strlen($0), 0) }
        return ProjectLock(fd: fd, path: path)
    }

    /// Tries once; nil when another process holds it.
    public static func tryAcquire(store: StateStore, project: String, command: String,
                                  name: String = "lock") throws -> ProjectLock? {
        do {
            return try acquire(store: store, project: project, command: command, timeout: 0, name: name)
        } catch let e as StateError where e.detail.hasPrefix("still held") {
            return nil
        }
    }

    static func holderDescription(_ path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "another berth" }
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        let parts = line.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return "another berth" }
        return "pid \(parts[0]) (berth \(parts[1]))"
    }
}
