import Glibc
import SystemPackage

/// Copies a container's log (``ContainerRuntime/logPath(stateDir:)``) to an fd,
/// once or following it, for `berth logs NAME [--follow]`.
public struct LogReader: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Copies the log from `offset` to its current end; returns the offset reached.
    /// A missing log is an empty one.
    @discardableResult
    public func copy(to output: FileDescriptor, from offset: Int64 = 0) throws -> Int64 {
        let input: FileDescriptor
        do {
            input = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        } catch Errno.noSuchFileOrDirectory {
            return offset
        } catch let error as Errno {
            throw KernelError("open", path, errno: error)
        }
        defer { try? input.close() }
        var st = stat()
        guard fstat(input.rawValue, &st) == 0 else { throw KernelError("stat", path, errno: Errno(rawValue: errno)) }
        // Truncated (or replaced) since the last look: start over.
        var position = Int64(st.st_size) < offset ? 0 : offset
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { try input.read(fromAbsoluteOffset: position, into: $0) }
            } catch let error as Errno {
                throw KernelError("read", path, errno: error)
            }
            if n == 0 { return position }
            do {
                _ = try output.writeAll(buffer[0..<n])
            } catch let error as Errno {
                throw KernelError("write", "log output", errno: error)
            }
            position += Int64(n)
        }
    }

    /// Copies the log, then what is appended to it, until `shouldStop` returns true
    /// (asked after each wake-up, at least every `interval`), e.g. once the container
    /// has exited; what was written before that is copied too.
    public func follow(to output: FileDescriptor, from offset: Int64 = 0, interval: Duration = .milliseconds(250),
                       until shouldStop: () -> Bool) throws {
        // inotify wakes us as soon as something is written; the interval only bounds
        // how late we notice `shouldStop` (or a log that did not exist yet).
        let watch = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
        defer { if watch >= 0 { close(watch) } }
        var watching = false
        var position = offset
        let ms = interval.pollMilliseconds
        while true {
            if watch >= 0 && !watching {
                watching = inotify_add_watch(watch, path, UInt32(IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)) >= 0
            }
            let stop = shouldStop()
            position = try copy(to: output, from: position)
            if stop { return }
            if watching {
                var pfd = pollfd(fd: watch, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, ms)
                var events = [UInt8](repeating: 0, count: 4096)
                while events.withUnsafeMutableBytes({ read(watch, $0.baseAddress, $0.count) }) > 0 {}
            } else {
                var ts = timespec(tv_sec: Int(ms / 1000), tv_nsec: Int(ms % 1000) * 1_000_000)
                nanosleep(&ts, nil)
            }
        }
    }
}
