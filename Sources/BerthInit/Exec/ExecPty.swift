import CBerth
import Glibc
import SystemPackage

/// The window size of a terminal, in character cells.
public struct TerminalSize: Codable, Sendable, Equatable {
    public var rows: UInt16
    public var columns: UInt16

    public init(rows: UInt16, columns: UInt16) {
        self.rows = rows
        self.columns = columns
    }

    /// The size of the terminal open on `fd`, or nil when it is not a terminal.
    public static func of(_ fd: Int32) -> TerminalSize? {
        var ws = winsize()
        guard cberth_get_winsize(fd, &ws) == 0 else { return nil }
        return TerminalSize(rows: ws.ws_row, columns: ws.ws_col)
    }

    package func apply(to fd: Int32) {
        var ws = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = cberth_set_winsize(fd, &ws)
    }
}

/// The pty of `berth exec -t`, on the exec relay's side (berth init in exec mode).
///
/// The pair is made inside the container, from its own devpts (as runc's console
/// socket does): the command's terminal is one the container's `/dev/pts` knows,
/// and the caller receives only the master, over the init socket.
enum ExecPty {
    /// Opens a pty pair from the container's /dev/ptmx (call after entering its root);
    /// returns (master, slave).
    static func open(size: TerminalSize) throws -> (master: Int32, slave: Int32) {
        let master = Glibc.open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw KernelError("open", "/dev/ptmx", errno: Errno(rawValue: errno)) }
        var number: UInt32 = 0
        guard cberth_pty_unlock(master, &number) == 0 else {
            let e = errno
            close(master)
            throw KernelError("unlock pty", "/dev/ptmx", errno: Errno(rawValue: e))
        }
        var slave = cberth_pty_peer(master, O_RDWR | O_NOCTTY | O_CLOEXEC)
        if slave < 0 { slave = Glibc.open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC) }
        guard slave >= 0 else {
            let e = errno
            close(master)
            throw KernelError("open", "/dev/pts/\(number)", errno: Errno(rawValue: e))
        }
        size.apply(to: master)
        return (master, slave)
    }

    /// The slave as fds 0, 1 and 2 of the relay, for the command to inherit.
    static func attach(slave: Int32) throws {
        for fd: Int32 in 0...2 where dup2(slave, fd) != fd {
            throw KernelError("dup2", "pty", errno: Errno(rawValue: errno))
        }
        close(slave)
    }

    /// The relay lets go of the slave (so that the master sees the end when the command
    /// exits) and of the caller's stdio.
    static func detach() {
        let null = Glibc.open("/dev/null", O_RDWR | O_CLOEXEC)
        for fd: Int32 in 0...2 { _ = dup2(null, fd) }
        if null > 2 { close(null) }
    }

    /// "The command runs", with the master attached.
    static func sendOK(master: Int32, command: pid_t) {
        let bytes = [InitRequest.ok] + Array(String(command).utf8)
        _ = bytes.withUnsafeBytes { cberth_send_with_fd(InitRequest.socketFD, $0.baseAddress, $0.count, master) }
        close(master)
    }
}
