import Glibc
import SystemPackage

extension LogFiles {
    /// Appends one line of berth's own to a container's current log, on stderr, in the
    /// log's format (so `berth logs` shows it in order with the command's output), e.g.
    /// how the container was stopped. Call when berth init no longer writes the file
    /// (the container is stopped): a note never races the relay's rotation.
    public static func appendNote(stateDir: String, _ text: String) throws {
        let path = stateDir + "/" + current
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw KernelError("open", path, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        var line: [UInt8] = []
        Array(text.utf8).withUnsafeBytes {
            LogEntry.encode(time: LogTime.now().bytes, stream: .stderr, complete: true, content: $0, into: &line)
        }
        var done = 0
        while done < line.count {
            let n = line.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw KernelError("write", path, errno: Errno(rawValue: errno)) }
            done += n
        }
    }
}
