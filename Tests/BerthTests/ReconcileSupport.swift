import BerthKernel
import Foundation
import Testing

/// A `berth reconcile` running as a child of the test, as systemd or a user would run it:
/// its standard output and error go to files, and it has its own NOTIFY_SOCKET so that
/// the test knows when its first pass is done. `stop()` ends it (SIGTERM, then SIGKILL).
final class ReconcilerRun: @unchecked Sendable {
    let process = Process()
    let logPath: String
    let notify: NotifySocket

    init(_ box: Sandbox, interval: String = "1s", logFormat: String = "text", specPath: String? = nil,
         environment extra: [String: String] = [:], arguments: [String] = []) throws {
        let tag = UUID().uuidString.prefix(8)
        logPath = "\(box.directory)/reconcile-\(tag).log"
        notify = try NotifySocket(path: "\(box.directory)/notify-\(tag)")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        process.executableURL = URL(fileURLWithPath: box.berth)
        process.arguments = ["reconcile", "-f", specPath ?? box.specPath, "--interval", interval,
                             "--log-format", logFormat] + arguments
        var env = ProcessInfo.processInfo.environment
        env["BERTH_STATE_DIR"] = box.stateDirectory
        env["NO_COLOR"] = "1"
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = nil
        env["WATCHDOG_PID"] = nil
        for (k, v) in extra { env[k] = v }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Everything it logged so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var lines: [String] { log.split(separator: "\n").map(String.init) }

    /// Waits for READY=1 (sent when the first pass is done).
    func waitReady(timeout: Double = 20, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let ready = eventually(timeout: timeout) { notify.received.contains("READY=1") || !process.isRunning }
            && process.isRunning
        #expect(ready, "the reconciler did not become ready: \(log)", sourceLocation: sourceLocation)
        return ready
    }

    func send(_ signal: Int32) { kill(pid, signal) }

    /// Waits for it to exit; its exit status, or nil when it still runs after `timeout`.
    func waitExit(timeout: Double) -> Int32? {
        guard eventually(timeout: timeout, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM, and SIGKILL when that did not end it within 5 s (a failure of the test).
    func stop(sourceLocation: SourceLocation = #_sourceLocation) {
        guard process.isRunning else { return }
        send(SIGTERM)
        let status = waitExit(timeout: 5)
        #expect(status == 0, "the reconciler did not stop cleanly on SIGTERM: \(log)", sourceLocation: sourceLocation)
        if status == nil {
            send(SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Children of the reconciler that are zombies (exited and never reaped).
    func zombieChildren() -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var zombies: [Int32] = []
        for task in tasks {
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            for child in text.split(separator: " ").compactMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                if (try? ProcFS.snapshot(pid: child))?.state == .zombie { zombies.append(child) }
            }
        }
        return zombies
    }
}

/// The systemd end of sd_notify(3): a unix datagram socket the test binds, collecting messages.
final class NotifySocket: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var messages: [String] = []

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Every message received so far, one entry per line of each datagram.
    var received: [String] {
        lock.lock()
        defer { lock.unlock() }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            messages += String(decoding: buffer[..<n], as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return messages
    }

    func count(_ message: String) -> Int { received.filter { $0 == message }.count }
}

struct StatusFailed: Error, CustomStringConvertible {
    var description: String
}

extension Sandbox {
    /// `berth status --output json` of the project; a failure says what berth said.
    func statusEntries() throws -> [[String: Any]] {
        let r = try run("status", "-p", project, "--output", "json")
        guard r.status == 0, let doc = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw StatusFailed(description: "berth status failed (\(r.status)): \(r.stderr)\(r.stdout)")
        }
        return doc["containers"] as? [[String: Any]] ?? []
    }

    /// The status entry of one container.
    func container(_ name: String) throws -> [String: Any]? {
        try statusEntries().first { $0["name"] as? String == name }
    }

    /// berth init's pid, when the container runs.
    func runningPID(_ name: String) throws -> Int32? {
        try container(name)?["pid"] as? Int32
    }

    func restarts(of name: String) throws -> Int? {
        try container(name)?["restarts"] as? Int
    }

    /// The command berth init runs (init's only child).
    func commandPID(of name: String) throws -> Int32? {
        guard let pid = try runningPID(name),
              let children = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)
        else { return nil }
        return children.split(separator: " ").first.flatMap { Int32($0) }
    }

    func memoryLimit(of name: String) throws -> UInt64? {
        try cgroups.limits(of: cgroup(name)).memoryBytes
    }

}
