import BerthKernel
import Foundation
import Glibc
import Testing

/// A temporary directory holding a busybox root filesystem, a state directory and a
/// marker file outside the rootfs, for one test's containers. `cleanup()` kills the
/// containers it started and removes the directory (refusing if anything is still
/// mounted under it, which would mean a mount leaked to the host).
final class ContainerSandbox: @unchecked Sendable {
    let base: String
    let rootfs: String
    let outsideMarker: String
    private(set) var started: [ProcessIdentity] = []
    private var stateDirs = 0

    /// The `berth-init` executable the containers run as their init: built next to the test bundle.
    static let berthInit: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // swift-testing's runner lives in the bundle or next to it, depending on the toolchain.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(InitExecutable.fileName).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return "berth-init executable not found next to \(exe): run `swift build` first"
    }()

    init(_ name: String, busybox: Bool = true) throws {
        let safe = name.map { $0.isLetter || $0.isNumber ? $0 : "-" }
        base = "/tmp/berth-rt-\(String(safe).prefix(40))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        rootfs = base + "/rootfs"
        outsideMarker = base + "/outside-marker"
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        try "outside the rootfs\n".write(toFile: outsideMarker, atomically: false, encoding: .utf8)
        if busybox { try Self.installBusybox(into: rootfs) }
    }

    /// /bin/busybox (busybox-static), copied (never linked: the container may write to it),
    /// with a symlink per applet in /bin, and the usual empty directories.
    static func installBusybox(into rootfs: String) throws {
        let fm = FileManager.default
        for dir in ["bin", "proc", "sys", "dev", "etc", "root", "tmp", "var"] {
            try fm.createDirectory(atPath: rootfs + "/" + dir, withIntermediateDirectories: true)
        }
        chmod(rootfs + "/tmp", 0o1777)
        try fm.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        let list = Process()
        list.executableURL = URL(fileURLWithPath: "/bin/busybox")
        list.arguments = ["--list"]
        let pipe = Pipe()
        list.standardOutput = pipe
        try list.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        list.waitUntilExit()
        for applet in String(decoding: output, as: UTF8.self).split(separator: "\n") where applet != "busybox" {
            try? fm.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
            .write(toFile: rootfs + "/etc/passwd", atomically: false, encoding: .utf8)
    }

    /// A fresh state directory.
    func stateDir() throws -> String {
        stateDirs += 1
        let dir = base + "/state\(stateDirs)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func config(_ argv: [String], namespaces: Set<NamespaceKind> = ContainerConfig.defaultNamespaces)
        -> ContainerConfig
    {
        ContainerConfig(id: "test/\(URL(fileURLWithPath: base).lastPathComponent)", rootfs: rootfs, argv: argv,
                        env: ["PATH=/bin"], hostname: "berth-test", namespaces: namespaces)
    }

    /// Starts a container and remembers it for cleanup.
    func start(_ config: ContainerConfig, stateDir: String) throws -> ProcessIdentity {
        let id = try ContainerRuntime.start(config, stateDir: stateDir, executable: Self.berthInit)
        started.append(id)
        return id
    }

    /// Remembers a container started some other way, for cleanup.
    func track(_ id: ProcessIdentity) { started.append(id) }

    /// Starts the container, waits for its command to end, returns the log and the exit record.
    func run(_ config: ContainerConfig, timeout: Duration = .seconds(20)) throws -> (log: String, exit: ExitRecord?) {
        let state = try stateDir()
        let id = try start(config, stateDir: state)
        try waitForExit(id, timeout: timeout)
        return (log(state), ContainerRuntime.readExitRecord(stateDir: state))
    }

    /// The current run's output as the command wrote it (both streams, in the order relayed).
    func log(_ stateDir: String, previousRun: Bool = false) -> String {
        let lines = (try? LogReader(stateDir: stateDir, previousRun: previousRun).lines()) ?? []
        return lines.map { $0.text + ($0.complete ? "\n" : "") }.joined()
    }

    func waitForExit(_ id: ProcessIdentity, timeout: Duration = .seconds(20)) throws {
        let ok = poll(timeout: timeout) { !id.isAlive }
        if !ok { throw SandboxError("container \(id) still running after \(timeout)") }
    }

    /// Kills what is still running, checks nothing is mounted under `base`, removes it.
    func cleanup() {
        for id in started { _ = try? ContainerRuntime.stop(id, signal: SIGKILL, timeout: .seconds(5)) }
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let leaked = mounts.split(separator: "\n").filter { $0.contains(base) }
        if !leaked.isEmpty {
            Issue.record("mounts leaked to the host: \(leaked)")
            return
        }
        try? FileManager.default.removeItem(atPath: base)
    }
}

struct SandboxError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes.
func poll(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(2000)
    }
    return condition()
}

extension String {
    /// The value of the first `key=value` line.
    func value(of key: String) -> String? {
        for line in split(separator: "\n") where line.hasPrefix(key + "=") {
            return String(line.dropFirst(key.count + 1))
        }
        return nil
    }
}

/// The host pids of processes that hold `path` open on fd 1 (a container's log).
func processesWriting(to path: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1")) == path
    }
}

/// A user namespace mapping the container's 0..65535 to the host's 100000..165535.
let testUserMap = [IDMap(container: 0, host: 100_000, size: 65536)]
