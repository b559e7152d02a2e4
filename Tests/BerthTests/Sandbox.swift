import Berth
import BerthKernel
import BerthTestSupport
import Foundation
import Testing

/// One test's world: a temp directory with a busybox root filesystem, a state
/// directory, a unique project name, and the berth binary to run as a user would.
/// `close()` destroys the project and removes everything, also after a failure.
final class Sandbox: @unchecked Sendable {
    let project: String
    let directory: String
    let stateDirectory: String
    let rootfs: String
    let berth: String
    /// `berth-init`, beside `berth`: for tests that drive the engine in-process.
    var berthInit: String { InitExecutable.beside(executable: berth) }
    private var subnets: [TestSubnet] = []
    private let lock = NSLock()
    /// A command berth runs under (e.g. `nsenter --net=...`: LanTests run berth in a
    /// network namespace that plays the host); empty: berth itself.
    var launcher: [String] = []

    init(_ tag: String) throws {
        signal(SIGPIPE, SIG_IGN)
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        project = "bt-\(tag.prefix(16))-\(suffix)".lowercased()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-test-\(project)").path
        stateDirectory = directory + "/state"
        rootfs = directory + "/rootfs"
        berth = Self.berthBinary()
        try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "sleep", "cat", "echo", "hostname", "true", "false", "ls", "dd", "head", "httpd", "wget",
                       "mkdir", "ip", "id", "timeout", "seq", "tr", "mknod"] {
            try FileManager.default.createSymbolicLink(atPath: "\(rootfs)/bin/\(applet)", withDestinationPath: "busybox")
        }
        for dir in ["proc", "dev", "sys", "tmp", "etc"] {
            try FileManager.default.createDirectory(atPath: "\(rootfs)/\(dir)", withIntermediateDirectories: true)
        }
    }

    /// The berth executable built next to the test bundle.
    static func berthBinary() -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("berth").path
    }

    var specPath: String { directory + "/\(project).yaml" }

    /// Writes the spec (YAML text) as `<project>.yaml`, so the project name defaults to ours.
    func write(_ yaml: String) throws {
        try yaml.write(toFile: specPath, atomically: true, encoding: .utf8)
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// The signal that ended berth, if one did (then `status` is that signal's number).
        var signal: Int32?
    }

    /// Runs berth with the sandbox's state directory.
    @discardableResult
    func run(_ arguments: String...) throws -> Result { try run(arguments) }

    func run(_ arguments: [String], environment extra: [String: String] = [:], in workingDirectory: String? = nil) throws -> Result {
        let process = Process()
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.executableURL = URL(fileURLWithPath: launcher.first ?? berth)
        process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [berth] + arguments
        var env = ProcessInfo.processInfo.environment
        env["BERTH_STATE_DIR"] = stateDirectory
        env["NO_COLOR"] = "1"
        for (k, v) in extra { env[k] = v }
        process.environment = env
        // Files rather than pipes: berth's output can never fill a pipe and block it,
        // and a daemonised container holding a copy of the fd cannot keep us waiting.
        let outPath = "\(directory)/.stdout-\(UUID().uuidString)", errPath = "\(directory)/.stderr-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
                      signal: process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil)
    }

    /// `berth apply` that must succeed.
    @discardableResult
    func apply(sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> Result {
        let r = try run("apply", "-f", specPath)
        #expect(r.status == 0, "apply failed: \(r.stderr)\(r.stdout)", sourceLocation: sourceLocation)
        return r
    }

    /// `berth plan` (text); exit status 0 or 2 with --detailed-exitcode.
    func plan(_ extra: String...) throws -> Result { try run(["plan", "-f", specPath] + extra) }

    /// The status document of the project.
    func status() throws -> [[String: Any]] {
        let r = try run("status", "-p", project, "--output", "json")
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return doc?["containers"] as? [[String: Any]] ?? []
    }

    func pid(of name: String) throws -> Int32? {
        try status().first { $0["name"] as? String == name }?["pid"] as? Int32
    }

    /// Runs a command in a container with `berth exec`.
    func exec(_ name: String, _ command: String...) throws -> Result {
        try run(["exec", "-p", project, name, "--"] + command)
    }

    /// The test's `n`th /24 (0, 1, ...), allocated host-wide (see ``TestSubnets``) and
    /// held until `close()`: no other test run on this host gets it meanwhile.
    func subnet(_ n: Int = 0) throws -> TestSubnet {
        lock.lock()
        defer { lock.unlock() }
        while subnets.count <= n { subnets.append(try TestSubnets.allocate()) }
        return subnets[n]
    }

    var cgroups: any CgroupDriver { get throws { try Cgroups.detect() } }
    func cgroup(_ name: String) -> String { "berth/\(project)/\(name)" }

    func close() {
        let links = networkObjects()
        _ = try? run("destroy", "-p", project)
        removeLeftovers(links)
        if let driver = try? Cgroups.detect() {
            for name in (try? driver.children(of: "berth/\(project)")) ?? [] {
                try? driver.killAll(in: "berth/\(project)/\(name)", timeout: .seconds(5))
                try? driver.remove("berth/\(project)/\(name)")
            }
            try? driver.remove("berth/\(project)")
        }
        try? FileManager.default.removeItem(atPath: directory)
        lock.lock()
        for subnet in subnets { subnet.release() }
        subnets = []
        lock.unlock()
    }

    /// The bridges (with their networks) and host veths the project may have made, from
    /// its spec and from berth's records: what `close()` removes if destroy left it.
    func networkObjects() -> (bridges: [(network: String, bridge: String)], veths: Set<String>) {
        var bridges: [(String, String)] = []
        var veths = Set<String>()
        var containers: [Container] = []
        if case .success(let spec) = SpecLoader.load(path: specPath), spec.project == project {
            bridges += spec.networks.map { ($0.name, $0.bridge) }
            containers += spec.containers
        }
        let store = StateStore(root: stateDirectory)
        if let records = try? store.records(project) {
            bridges += records.networks.values.map { ($0.spec.name, $0.spec.bridge) }
            containers += records.containers.values.map(\.spec)
        }
        for c in containers {
            for a in c.networks { veths.insert(NetworkNames.hostVeth(project: project, container: c.name, network: a.network)) }
        }
        return (bridges, veths)
    }

    /// Deletes what a failed test or a failed destroy left of the project's networks:
    /// bridges, host veths, firewall rules.
    func removeLeftovers(_ objects: (bridges: [(network: String, bridge: String)], veths: Set<String>)) {
        guard let host = try? RouteNetlink() else { return }
        for name in objects.veths where (try? host.link(.name(name))) != nil {
            try? host.deleteLink(.name(name))
        }
        for (network, bridge) in objects.bridges {
            if (try? host.link(.name(bridge))) != nil { try? host.deleteLink(.name(bridge)) }
            try? Firewall().remove(project: project, network: network, bridge: bridge)
        }
    }
}

/// Polls until `condition` holds or `timeout` passes.
func eventually(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// The process has exited (a zombie waiting for its reaper counts as gone).
func gone(_ pid: Int32) -> Bool {
    guard let snapshot = try? ProcFS.snapshot(pid: pid) else { return true }
    return snapshot.state == .zombie || snapshot.state == .dead
}
