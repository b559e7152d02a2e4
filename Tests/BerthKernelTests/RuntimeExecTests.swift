import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("Container runtime: exec, observation, logs", .enabled(if: geteuid() == 0, "needs root"))
struct RuntimeExecTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    /// Runs `exec` with stdout and stderr to a file; returns the status and the output.
    func exec(_ id: ProcessIdentity, _ process: ExecConfig, in sandbox: ContainerSandbox) throws -> (ProcessExitStatus, String) {
        let path = sandbox.base + "/exec-\(UInt32.random(in: 0...UInt32.max)).out"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(fd)
            close(null)
        }
        let status = try ContainerRuntime.exec(into: id, process, executable: ContainerSandbox.berthInit,
                                               stdin: null, stdout: fd, stderr: fd)
        return (status, try String(contentsOfFile: path, encoding: .utf8))
    }

    @Test(arguments: [false, true])
    func execRunsInsideTheContainer(userNamespace: Bool) throws {
        let sandbox = try ContainerSandbox("exec-\(userNamespace)")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sh", "-c", "echo ready=1; exec sleep 1000"])
        if userNamespace {
            config.namespaces.insert(.user)
            config.uidMap = testUserMap
            config.gidMap = testUserMap
        }
        let state = try sandbox.stateDir()
        let id = try sandbox.start(config, stateDir: state)
        #expect(poll(timeout: .seconds(10)) { sandbox.log(state).contains("ready=1") })

        let script = """
            echo fds-begin; ls /proc/$$/fd; echo fds-end
            echo host=$(hostname)
            echo pid1=$(tr '\\0' ' ' < /proc/1/cmdline)
            echo self=$$ $(cat /proc/$$/comm)
            echo root=$(awk '$5 == "/" { print $4 }' /proc/self/mountinfo)
            echo uid_map=$(awk '{ print $1, $2, $3 }' /proc/self/uid_map)
            echo caps=$(grep CapEff /proc/self/status | cut -f2)
            echo marker=$(cat \(sandbox.outsideMarker) 2>/dev/null || echo unreachable)
            echo pwd=$(pwd)
            """
        var process = ExecConfig(argv: ["sh", "-c", script], like: config)
        process.workdir = "/tmp"
        let (status, output) = try exec(id, process, in: sandbox)
        #expect(status == .exited(0), "\(output)")
        #expect(output.value(of: "host") == "berth-test", "\(output)")
        #expect(output.value(of: "pid1") == "berth-init", "\(output)")
        let fds = output.split(separator: "\n").drop { $0 != "fds-begin" }.dropFirst().prefix { $0 != "fds-end" }
        #expect(fds == ["0", "1", "2"], "\(output)")
        // In the container's PID namespace, the shell's own pid is one the container's /proc knows.
        let selfLine = output.value(of: "self")?.split(separator: " ") ?? []
        #expect(selfLine.count == 2 && selfLine.last == "sh", "\(output)")
        #expect(Int(selfLine.first ?? "") ?? 0 > 1 && Int(selfLine.first ?? "") ?? 1000 < 50, "\(output)")
        #expect(output.value(of: "root") == sandbox.rootfs, "\(output)")
        #expect(output.value(of: "uid_map") == (userNamespace ? "0 100000 65536" : "0 0 4294967295"), "\(output)")
        #expect(output.value(of: "caps") == String(format: "%016llx", try Capabilities.mask(of: config.capabilities)))
        #expect(output.value(of: "marker") == "unreachable", "\(output)")
        #expect(output.value(of: "pwd") == "/tmp", "\(output)")
    }

    @Test func execReportsStatusAndMissingCommands() throws {
        let sandbox = try ContainerSandbox("exec-status")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let config = sandbox.config(["/bin/sleep", "1000"])
        let id = try sandbox.start(config, stateDir: state)
        #expect(try exec(id, ExecConfig(argv: ["sh", "-c", "exit 7"], like: config), in: sandbox).0 == .exited(7))
        #expect(try exec(id, ExecConfig(argv: ["sh", "-c", "kill -TERM $$"], like: config), in: sandbox).0 == .signaled(SIGTERM))
        let error = #expect(throws: KernelError.self) {
            _ = try exec(id, ExecConfig(argv: ["/bin/nosuch"], like: config), in: sandbox)
        }
        #expect(error?.description.contains("exec \"/bin/nosuch\": No such file or directory") == true, "\(String(describing: error))")
        // The container is unharmed.
        #expect(id.isAlive)
    }

    @Test func execIntoAStoppedContainerFails() throws {
        let sandbox = try ContainerSandbox("exec-stopped")
        defer { sandbox.cleanup() }
        let config = sandbox.config(["/bin/true"])
        let state = try sandbox.stateDir()
        let id = try sandbox.start(config, stateDir: state)
        try sandbox.waitForExit(id)
        #expect(throws: KernelError.self) { _ = try exec(id, ExecConfig(argv: ["true"], like: config), in: sandbox) }
    }

    @Test func observationFromTheHost() throws {
        let sandbox = try ContainerSandbox("observe")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/sh", "-c", "echo ready=1; exec sleep 1000"])
        config.hostname = "observed"
        let id = try sandbox.start(config, stateDir: state)
        #expect(poll(timeout: .seconds(10)) { sandbox.log(state).contains("ready=1") })

        #expect(try ProcessIdentity.read(pid: id.pid) == id)
        #expect(ContainerRuntime.isAlive(id))
        #expect(!ProcessIdentity(pid: id.pid, startTime: id.startTime + 1).isAlive)
        #expect(try ProcFS.hostname(of: id) == "observed")
        #expect(try ProcFS.commandLine(pid: id.pid) == ["berth-init"])
        let snapshot = try ProcFS.snapshot(pid: id.pid)
        #expect(snapshot.name == "berth-init")
        #expect(snapshot.namespacePIDs.last == 1)
        #expect(snapshot.state == .sleeping || snapshot.state == .running)

        let host = try ProcFS.namespaceInodes(pid: getpid())
        let container = try ProcFS.namespaceInodes(of: id)
        for kind in NamespaceKind.allCases {
            if config.namespaces.contains(kind) {
                #expect(container[kind] != host[kind], "\(kind)")
            } else {
                #expect(container[kind] == host[kind], "\(kind)")
            }
        }
        // A stale identity is refused rather than answered for someone else.
        let stale = ProcessIdentity(pid: id.pid, startTime: id.startTime + 1)
        #expect(throws: KernelError.self) { _ = try ProcFS.hostname(of: stale) }
        #expect(throws: KernelError.self) { try ContainerRuntime.signal(stale, SIGKILL) }
        #expect(id.isAlive)
    }

    @Test func logsCanBeReadAndFollowed() throws {
        let sandbox = try ContainerSandbox("logs")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let script = "for i in 1 2 3 4 5; do echo line $i; echo err $i >&2; sleep 0.05; done"
        let id = try sandbox.start(sandbox.config(["/bin/sh", "-c", script]), stateDir: state)

        var followed: [String] = []
        try LogReader(stateDir: state).follow(interval: .milliseconds(20), until: { !id.isAlive }) {
            followed.append("\($0.stream.rawValue) \($0.text)")
        }
        let expected = (1...5).flatMap { ["stdout line \($0)", "stderr err \($0)"] }
        #expect(followed == expected)
        let read = try LogReader(stateDir: state).lines().map { "\($0.stream.rawValue) \($0.text)" }
        #expect(read == expected)
        #expect(try LogReader(stateDir: state).lines(LogReader.Filter(stream: .stderr)).map(\.text)
            == (1...5).map { "err \($0)" })
    }

    @Test func aNewRunMovesTheLastOneAside() throws {
        let sandbox = try ContainerSandbox("log-runs")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        for run in 1...3 {
            let id = try sandbox.start(sandbox.config(["/bin/sh", "-c", "echo run \(run)"]), stateDir: state)
            try sandbox.waitForExit(id)
        }
        #expect(sandbox.log(state) == "run 3\n")
        #expect(sandbox.log(state, previousRun: true) == "run 2\n")
    }
}

import SystemPackage

/// An fd on a new file, closed on deinit.
final class FileDescriptorBox {
    let descriptor: FileDescriptor
    init(path: String) throws {
        descriptor = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                             permissions: .ownerReadWrite)
    }
    deinit { try? descriptor.close() }
}
