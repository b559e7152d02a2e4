import CBerth
import Glibc
import SystemPackage

extension InitChannel {
    /// Like ``receive(until:)``, and takes the fd a message carries (the pty master of exec -t)
    /// and the command's host pid that exec mode's `O` carries (0 when absent).
    func receiveWithFD(until deadline: ContinuousClock.Instant) throws -> (Message, FileDescriptor?, pid_t) {
        while true {
            try waitReadable(until: deadline)
            var buffer = [UInt8](repeating: 0, count: 65536)
            var fd: Int32 = -1
            let got = buffer.withUnsafeMutableBytes { cberth_recv_with_fd(socket.rawValue, $0.baseAddress, $0.count, &fd) }
            if got < 0 && errno == EINTR { continue }
            if got < 0 && errno == ECONNRESET { return (.closed, nil, 0) }
            if got < 0 { throw KernelError("recv", "berth init", errno: Errno(rawValue: errno)) }
            let attached = fd >= 0 ? FileDescriptor(rawValue: fd) : nil
            if got == 0 { return (.closed, attached, 0) }
            let bytes = Array(buffer[0..<Int(got)])
            let message = Self.decode(bytes)
            let pid = message == .ok ? pid_t(String(decoding: bytes.dropFirst(), as: UTF8.self)) ?? 0 : 0
            return (message, attached, pid)
        }
    }
}

/// The caller's side of `berth exec -t`: its terminal in raw mode, relayed to and from
/// the pty master, window size changes passed on; the terminal is restored however it ends.
enum TerminalRelay {
    /// Routes the signals the relay passes on (and SIGWINCH) to the signal pipe; called
    /// before the exec starts, so that a failure is an error before anything runs.
    static func listen() throws {
        try SignalPipe.shared.listen(to: [SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT])
    }

    /// Relays until the exec relay `pid` has exited and the master is drained; returns its wait status.
    /// `input`: the caller's stdin when `-i` (nil: nothing is sent). Signals berth exec gets
    /// (SIGINT, SIGTERM, SIGHUP, SIGQUIT) are passed on to the command.
    /// Call ``listen()`` first, before the command starts.
    static func run(master: FileDescriptor, pid: pid_t, input: Int32?, output: Int32) -> Int32 {
        let signals = SignalPipe.shared
        var saved = termios()
        let terminal: Int32? = input.flatMap { isatty($0) == 1 ? $0 : nil }
        if let terminal, tcgetattr(terminal, &saved) == 0 {
            var raw = saved
            cfmakeraw(&raw)
            tcsetattr(terminal, TCSANOW, &raw)
        }
        defer { if let terminal { tcsetattr(terminal, TCSAFLUSH, &saved) } }
        let sizeSource = terminal ?? (isatty(output) == 1 ? output : nil)
        if let sizeSource, let size = TerminalSize.of(sizeSource) { size.apply(to: master.rawValue) }

        let pidfd = cberth_pidfd_open(pid)
        defer { if pidfd >= 0 { close(pidfd) } }
        var reading = input
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var masterOpen = true
        var relayDone = pidfd < 0
        while masterOpen || !relayDone {
            var fds = [
                pollfd(fd: masterOpen ? master.rawValue : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: reading ?? -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: relayDone ? -1 : pidfd, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, nfds_t(fds.count), -1) < 0 { continue }
            if fds[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(master.rawValue, $0.baseAddress, $0.count) }
                if n > 0 {
                    writeAll(output, buffer[0..<n])
                } else if !(n < 0 && (errno == EINTR || errno == EAGAIN)) {
                    masterOpen = false // EIO: every holder of the slave is gone
                }
            }
            if let fd = reading, fds[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    writeAll(master.rawValue, buffer[0..<n])
                } else if !(n < 0 && errno == EINTR) {
                    // End of input that is not a terminal: the terminal's end-of-file character.
                    if terminal == nil { writeAll(master.rawValue, [4][...]) }
                    reading = nil
                }
            }
            if fds[2].revents != 0 {
                for sig in signals.drain() {
                    if sig == SIGWINCH {
                        if let sizeSource, let size = TerminalSize.of(sizeSource) { size.apply(to: master.rawValue) }
                    } else {
                        kill(pid, sig)
                    }
                }
            }
            if fds[3].revents != 0 {
                relayDone = true
                // The command is gone; what it wrote is in the master already. A process
                // it left holding the terminal does not keep berth exec waiting.
                _ = fcntl(master.rawValue, F_SETFL, fcntl(master.rawValue, F_GETFL) | O_NONBLOCK)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(master.rawValue, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    writeAll(output, buffer[0..<n])
                }
                masterOpen = false
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    private static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) {
        var done = 0
        bytes.withUnsafeBytes { buffer in
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                done += n
            }
        }
    }
}
