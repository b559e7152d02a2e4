import FoundationEssentials
import Glibc

/// sd_notify(3) without libsystemd: datagrams to $NOTIFY_SOCKET.
public struct SystemdNotifier: Sendable {
    public var socketPath: String?
    /// Half the watchdog period, when systemd set one.
    public var watchdogInterval: Double?

    public init(socketPath: String?, watchdogInterval: Double?) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
    }

    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and removes them from the
    /// environment, as sd_notify(3) advises, so that no process berth starts inherits them.
    public static func fromEnvironment() -> SystemdNotifier {
        let env = ProcessInfo.processInfo.environment
        var interval: Double?
        if let usec = env["WATCHDOG_USEC"].flatMap(Double.init), usec > 0,
           env["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            interval = usec / 2_000_000
        }
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { unsetenv(name) }
        return SystemdNotifier(socketPath: env["NOTIFY_SOCKET"], watchdogInterval: interval)
    }

    public func watchdog() {
        if watchdogInterval != nil { notify("WATCHDOG=1") }
    }

    public func notify(_ message: String) {
        guard let socketPath, !socketPath.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        // An abstract socket is written with a leading '@' and starts with NUL on the wire.
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        _ = message.withCString { msg in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, msg, strlen(msg), Int32(MSG_NOSIGNAL), $0, len)
                }
            }
        }
    }
}
