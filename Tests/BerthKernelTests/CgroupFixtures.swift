import Foundation
import SystemPackage
import Testing
@testable import BerthKernel

/// Shared by the cgroup tests: unique names, the host's v1 driver, gated processes,
/// and a directory tree laid out like a cgroup v2 hierarchy.
enum CgroupTestSupport {
    /// A top-level cgroup name no other test (or test run) uses; it starts with
    /// "berth" so that a leak check (`find /sys/fs/cgroup -name 'berth*'`) sees it.
    static func uniqueName(_ test: String) -> String {
        "berth-test-\(test)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The v1 driver for this host, when the host has v1 controllers (legacy or hybrid).
    static let hostV1: CgroupV1Driver? = (try? Cgroups.detect()) as? CgroupV1Driver

    static var canUseHostV1: Bool { geteuid() == 0 && hostV1 != nil }

    /// Polls until `condition` holds or `seconds` pass.
    static func eventually(_ seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(5_000)
        }
        return try condition()
    }

    /// True when the process is gone or a zombie (dead, waiting to be reaped).
    static func isDead(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return errno == ESRCH }
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = status.lastIndex(of: ")") else { return true }
        let state = status[status.index(close, offsetBy: 2)]
        return state == "Z" || state == "X"
    }

    static func contents(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<missing>"
    }
}

/// A child process started with posix_spawn and reaped by this object alone (no
/// SIGCHLD machinery that another test could disturb).
final class SpawnedProcess: @unchecked Sendable {
    let pid: pid_t
    /// Write end of the child's stdin, or -1.
    private let input: Int32
    /// Read end of the child's stderr, or -1.
    private let errors: Int32
    private let lock = NSLock()
    private var status: Int32?

    /// Runs `argv` (argv[0] a path) with stdin and stderr on pipes and stdout on /dev/null.
    init(_ argv: [String]) throws {
        signal(SIGPIPE, SIG_IGN)
        // Close-on-exec from the start (pipe2), so that processes other tests spawn
        // meanwhile do not inherit an end and hold the pipe open.
        let stdinPipe = try FileDescriptor.pipe(options: .closeOnExec)
        let stderrPipe = try FileDescriptor.pipe(options: .closeOnExec)
        let inPipe = [stdinPipe.readEnd.rawValue, stdinPipe.writeEnd.rawValue]
        let errPipe = [stderrPipe.readEnd.rawValue, stderrPipe.writeEnd.rawValue]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        close(inPipe[0])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(errPipe[0])
            throw POSIXError(.init(rawValue: rc)!)
        }
        self.pid = pid
        self.input = inPipe[1]
        self.errors = errPipe[0]
    }

    deinit {
        close(input)
        close(errors)
    }

    /// Writes to the child's stdin.
    func send(_ text: String) {
        _ = text.withCString { Glibc.write(input, $0, strlen($0)) }
    }

    /// Waits for the child to exit and returns its wait status (reaps it once).
    @discardableResult
    func wait() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        status = raw
        return raw
    }

    /// The signal that ended the child, or nil when it exited.
    var killedBy: Int32? {
        let s = wait()
        return s & 0x7f != 0 ? s & 0x7f : nil
    }

    /// The child's exit code, or nil when a signal ended it.
    var exitCode: Int32? {
        let s = wait()
        return s & 0x7f == 0 ? (s >> 8) & 0xff : nil
    }

    /// Kills the child if it has not been reaped, and reaps it.
    func stop() {
        lock.lock()
        let reaped = status != nil
        lock.unlock()
        if !reaped { kill(pid, SIGKILL) }
        wait()
    }

    /// Everything the child (and whoever shares its stderr) wrote there, up to EOF.
    func errorOutput() -> String {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(errors, &buffer, buffer.count)
            if n > 0 { out += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A busybox shell script that waits on its stdin before running, so that the test
/// can move it into a cgroup before it does anything (forks included).
final class GatedShell {
    let process: SpawnedProcess

    init(_ script: String) throws {
        process = try SpawnedProcess(["/bin/busybox", "sh", "-c", "read go; " + script])
    }

    var pid: Int32 { process.pid }

    func release() { process.send("go\n") }

    /// Kills the shell if it still runs and reaps it (its children are the cgroup's business).
    func stop() { process.stop() }
}

/// A temporary directory laid out like a cgroup v2 hierarchy, with the interface
/// files a kernel would show. The driver cannot tell it from cgroupfs for reads and
/// writes (each file keeps the last value written); mkdir makes a bare directory,
/// so tests create the cgroups they need with `makeCgroup` first.
struct FakeCgroupV2Tree {
    let root: String
    static let allControllers = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]
    static let berthControllers = ["cpuset", "cpu", "io", "memory", "pids"]

    init(rootControllers: [String] = allControllers) throws {
        var template = Array("/tmp/berth-fake-cgroup2-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno)!) }
        root = String(cString: made)
        write("cgroup.controllers", rootControllers.joined(separator: " ") + "\n")
        write("cgroup.subtree_control", "\n")
        write("cgroup.procs", "")
    }

    /// A cgroup as the kernel shows it once its parent has enabled `controllers`.
    func makeCgroup(_ path: String, controllers: [String] = berthControllers, kill: Bool = true) {
        try? FileManager.default.createDirectory(atPath: root + "/" + path, withIntermediateDirectories: true)
        func file(_ name: String, _ text: String) { write(path + "/" + name, text) }
        file("cgroup.controllers", controllers.joined(separator: " ") + "\n")
        file("cgroup.subtree_control", "\n")
        file("cgroup.procs", "")
        file("cgroup.events", "populated 0\nfrozen 0\n")
        file("cgroup.freeze", "0\n")
        if kill { file("cgroup.kill", "") }
        if controllers.contains("cpu") {
            file("cpu.max", "max 100000\n")
            file("cpu.weight", "100\n")
            file("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
        }
        if controllers.contains("cpuset") {
            file("cpuset.cpus", "\n")
            file("cpuset.mems", "\n")
        }
        if controllers.contains("memory") {
            file("memory.max", "max\n")
            file("memory.swap.max", "max\n")
            file("memory.current", "0\n")
            file("memory.peak", "0\n")
            file("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n")
        }
        if controllers.contains("pids") {
            file("pids.max", "max\n")
            file("pids.current", "0\n")
        }
        if controllers.contains("io") {
            file("io.max", "")
        }
    }

    func read(_ path: String) -> String {
        CgroupTestSupport.contents(root + "/" + path)
    }

    func write(_ path: String, _ text: String) {
        _ = FileManager.default.createFile(atPath: root + "/" + path, contents: Data(text.utf8))
    }

    func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: root + "/" + path)
    }

    func destroy() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
