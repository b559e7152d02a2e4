import BerthKernel
import Foundation
import Glibc
import SystemPackage
import Testing

/// On cgroup v2, berth init (and an exec's relay) is created inside its cgroup by clone3
/// with CLONE_INTO_CGROUP: it is there before `prepare` runs, so the v2 driver writes
/// nothing to cgroup.procs (the write that waits for an RCU grace period). Run on the
/// real kernel: a v2 hierarchy of the test's own, in the host's cgroup2 mount (the root
/// on a v2 host, /sys/fs/cgroup/unified on a hybrid one: no controllers needed).
/// The host's cgroup2 mount: the root on a v2 host, `unified` on a hybrid one.
private let cgroupV2Root: String? = {
    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] where
        FileManager.default.fileExists(atPath: root + "/cgroup.controllers") { return root }
    return nil
}()

@Suite("Container runtime: clone into a cgroup v2", .enabled(if: geteuid() == 0 && cgroupV2Root != nil,
                                                            "needs root and a cgroup2 mount"))
struct CloneIntoCgroupTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    /// The v2 cgroup path of `pid` ("/a/b"), from /proc/PID/cgroup.
    static func v2Cgroup(of pid: Int32) throws -> String {
        let text = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("0::") }, "\(text)")
        return String(line.dropFirst(3))
    }

    /// A cgroup of the test's own under the v2 root; removed (once its processes are gone) by `body`'s end.
    func withCgroup(_ tag: String, _ body: (CgroupV2Driver, String) throws -> Void) throws {
        let root = try #require(cgroupV2Root)
        let name = "berth-rt-test-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try #require(mkdir(root + "/" + name, 0o755) == 0)
        defer { _ = poll(timeout: .seconds(10)) { rmdir(root + "/" + name) == 0 || errno == ENOENT } }
        try body(CgroupV2Driver(root: root), name)
    }

    @Test func initIsCreatedInItsCgroupAndNothingIsWritten() throws {
        try withCgroup("start") { driver, name in
            let sandbox = try ContainerSandbox("clone-into")
            defer { sandbox.cleanup() }
            let state = try sandbox.stateDir()
            let target = try #require(try driver.spawnTarget(name))
            defer { try? target.close() }
            var before = ""
            let id = try ContainerRuntime.start(sandbox.config(["/bin/sh", "-c", "echo ready=1; exec sleep 1000"]),
                                                stateDir: state, executable: ContainerSandbox.berthInit,
                                                cgroup: target) { pid in
                before = try Self.v2Cgroup(of: pid)
                try driver.addProcess(pid, to: name)
            }
            sandbox.track(id)
            // Before prepare did anything, init was in the cgroup already.
            #expect(before == "/" + name)
            #expect(try driver.processes(in: name).contains(id.pid))
            #expect(poll(timeout: .seconds(10)) { sandbox.log(state).contains("ready=1") })
            // The command, init's child, is there too.
            let children = try String(contentsOfFile: "/proc/\(id.pid)/task/\(id.pid)/children", encoding: .utf8)
            let command = try #require(children.split(separator: " ").first.flatMap { Int32($0) })
            #expect(try Self.v2Cgroup(of: command) == "/" + name)

            // exec's relay is created there as well, and the command it runs sees it.
            let out = sandbox.base + "/exec.out"
            let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            try #require(fd >= 0)
            defer { close(fd) }
            var relay = ""
            let status = try ContainerRuntime.exec(
                into: id, ExecConfig(argv: ["/bin/sh", "-c", "echo exec=1"], like: sandbox.config([])),
                executable: ContainerSandbox.berthInit, stdin: -1, stdout: fd, stderr: fd, cgroup: target
            ) { pid in relay = try Self.v2Cgroup(of: pid) }
            #expect(status == .exited(0))
            #expect(relay == "/" + name)
            #expect(try String(contentsOfFile: out, encoding: .utf8).contains("exec=1"))
        }
    }

    @Test func aDirectoryTheKernelRefusesFallsBackToAPlainClone() throws {
        // Not a cgroup: clone3 refuses it (EBADF), and berth init starts where berth is,
        // for `prepare` to move, as on v1.
        let sandbox = try ContainerSandbox("clone-fallback")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let notACgroup = try FileDescriptor.open(sandbox.base, .readOnly, options: [.directory])
        defer { try? notACgroup.close() }
        let ours = try Self.v2Cgroup(of: getpid())
        var seen = ""
        let id = try ContainerRuntime.start(sandbox.config(["/bin/true"]), stateDir: state,
                                            executable: ContainerSandbox.berthInit, cgroup: notACgroup) { pid in
            seen = try Self.v2Cgroup(of: pid)
        }
        sandbox.track(id)
        #expect(seen == ours)
        try sandbox.waitForExit(id, timeout: .seconds(10))
        #expect(ContainerRuntime.readExitRecord(stateDir: state)?.status == .exited(0))
    }
}
