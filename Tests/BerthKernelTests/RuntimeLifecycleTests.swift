import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("Container runtime: failures, PID 1, exit status, stop", .enabled(if: geteuid() == 0, "needs root"))
struct RuntimeLifecycleTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test(arguments: ["/bin/nosuch", "nosuch"])
    func missingCommandFailsClearlyAndLeavesNothing(_ command: String) throws {
        let sandbox = try ContainerSandbox("missing-command")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let error = #expect(throws: KernelError.self) {
            _ = try sandbox.start(sandbox.config([command, "arg"]), stateDir: state)
        }
        let message = error?.description ?? ""
        #expect(message.contains("exec \"\(command)"), "\(message)")
        #expect(message.contains("No such file or directory"), "\(message)")
        let log = sandbox.log(state)
        #expect(log.contains("berth init: exec \"\(command)"), "\(log)")
        if command.hasPrefix("/") {
            #expect(log == "berth init: exec \"/bin/nosuch\": No such file or directory\n", "\(log)")
        }
        // start() returned only after killing init: nothing runs with this container's log.
        #expect(processesWriting(to: ContainerRuntime.logPath(stateDir: state)).isEmpty)
        #expect(ContainerRuntime.readExitRecord(stateDir: state) == nil)
    }

    @Test func missingRootfsFailsClearly() throws {
        let sandbox = try ContainerSandbox("missing-rootfs", busybox: false)
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/true"])
        config.rootfs = sandbox.base + "/no-such-rootfs"
        let error = #expect(throws: KernelError.self) { _ = try sandbox.start(config, stateDir: state) }
        #expect(error?.description == "rootfs(\(config.rootfs)): No such file or directory")
        #expect(processesWriting(to: ContainerRuntime.logPath(stateDir: state)).isEmpty)
    }

    @Test func failingMountFailsClearlyAndLeavesNothing() throws {
        let sandbox = try ContainerSandbox("failing-mount")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/true"])
        // A tmpfs over a regular file cannot be mounted.
        config.mounts = [.tmpfs(target: "/bin/busybox/x", sizeBytes: nil, readOnly: false)]
        let error = #expect(throws: KernelError.self) { _ = try sandbox.start(config, stateDir: state) }
        #expect(error?.description.contains("/bin/busybox/x") == true, "\(String(describing: error))")
        #expect(sandbox.log(state).hasPrefix("berth init: "))
        #expect(processesWriting(to: ContainerRuntime.logPath(stateDir: state)).isEmpty)
    }

    @Test func prepareFailureKillsTheChild() throws {
        let sandbox = try ContainerSandbox("prepare-fails")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        struct Refused: Error {}
        var seen: Int32 = 0
        #expect(throws: Refused.self) {
            _ = try ContainerRuntime.start(sandbox.config(["/bin/sleep", "100"]), stateDir: state,
                                           executable: ContainerSandbox.berthInit) { pid in
                seen = pid
                throw Refused()
            }
        }
        #expect(seen > 0)
        // The blocked child was killed: it is gone, or at most a zombie waiting for its reaper.
        let gone = poll(timeout: .seconds(10)) {
            guard let snapshot = try? ProcFS.snapshot(pid: seen) else { return true }
            return snapshot.state == .zombie
        }
        #expect(gone)
    }

    @Test func exitCodeIsRecorded() throws {
        let sandbox = try ContainerSandbox("exit-code")
        defer { sandbox.cleanup() }
        let before = Date().timeIntervalSince1970
        let (_, exit) = try sandbox.run(sandbox.config(["/bin/sh", "-c", "exit 3"]))
        #expect(exit?.status == .exited(3))
        let finished = try #require(exit?.finishedAt)
        #expect(finished >= before - 1 && finished <= Date().timeIntervalSince1970 + 1)
    }

    @Test func killSignalIsRecorded() throws {
        let sandbox = try ContainerSandbox("exit-signal")
        defer { sandbox.cleanup() }
        let (_, exit) = try sandbox.run(sandbox.config(["/bin/sh", "-c", "kill -9 $$"]))
        #expect(exit?.status == .signaled(9))
    }

    @Test func exitRecordIsValidJSON() throws {
        let sandbox = try ContainerSandbox("exit-json")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let id = try sandbox.start(sandbox.config(["/bin/sh", "-c", "exit 5"]), stateDir: state)
        try sandbox.waitForExit(id)
        let data = try Data(contentsOf: URL(fileURLWithPath: ContainerRuntime.exitRecordPath(stateDir: state)))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["exitCode"] as? Int == 5)
        #expect(object["finishedAt"] is Double)
        // No temp file is left next to it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: state).sorted() == ["container.log", "exit.json"])
    }

    @Test func initReapsOrphans() throws {
        let sandbox = try ContainerSandbox("reap-orphans")
        defer { sandbox.cleanup() }
        // The inner shell exits at once, so its background sleep is orphaned to PID 1.
        let script = """
            sh -c 'sleep 0.3 & echo $! > /tmp/orphan'
            o=$(cat /tmp/orphan)
            echo orphan_parent=$(awk '{ print $4 }' /proc/$o/stat)
            i=0; while [ -e /proc/$o ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
            [ -e /proc/$o ] && echo orphan=left:$(awk '{ print $3 }' /proc/$o/stat) || echo orphan=reaped
            """
        let (log, exit) = try sandbox.run(sandbox.config(["/bin/sh", "-c", script]), timeout: .seconds(40))
        #expect(exit?.status == .exited(0), "\(log)")
        #expect(log.value(of: "orphan_parent") == "1", "\(log)")
        #expect(log.value(of: "orphan") == "reaped", "\(log)")
    }

    @Test func signalsAreForwardedToTheCommand() throws {
        let sandbox = try ContainerSandbox("forward-term")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let script = "trap 'echo got=TERM; exit 42' TERM; echo ready=1; while true; do sleep 0.05; done"
        let id = try sandbox.start(sandbox.config(["/bin/sh", "-c", script]), stateDir: state)
        #expect(poll(timeout: .seconds(10)) { sandbox.log(state).contains("ready=1") })
        #expect(try ContainerRuntime.stop(id, signal: SIGTERM, timeout: .seconds(20)) == .exited)
        #expect(sandbox.log(state).value(of: "got") == "TERM")
        #expect(ContainerRuntime.readExitRecord(stateDir: state)?.status == .exited(42))
        #expect(!ContainerRuntime.isAlive(id))
        #expect(try ContainerRuntime.stop(id) == .notRunning)
    }

    @Test func stopKillsACommandThatIgnoresTheSignal() throws {
        let sandbox = try ContainerSandbox("stop-kill")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let script = "trap '' TERM; echo ready=1; while true; do sleep 0.05; done"
        let id = try sandbox.start(sandbox.config(["/bin/sh", "-c", script]), stateDir: state)
        #expect(poll(timeout: .seconds(10)) { sandbox.log(state).contains("ready=1") })
        #expect(try ContainerRuntime.stop(id, signal: SIGTERM, timeout: .milliseconds(300)) == .killed)
        #expect(!id.isAlive)
        // SIGKILL of the namespace's init ends it at once: there is no exit record.
        #expect(ContainerRuntime.readExitRecord(stateDir: state) == nil)
        #expect(processesWriting(to: ContainerRuntime.logPath(stateDir: state)).isEmpty)
    }

    @Test func containerOutlivesTheThreadThatStartedIt() throws {
        let sandbox = try ContainerSandbox("detached")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let config = sandbox.config(["/bin/sh", "-c", "echo ready=1; exec sleep 1000"])
        // PDEATHSIG would fire when the *thread* that forked the child ends: start from one that ends.
        nonisolated(unsafe) var result: Result<ProcessIdentity, any Error>? = nil
        let thread = Thread { result = Result { try sandbox.start(config, stateDir: state) } }
        thread.start()
        #expect(poll(timeout: .seconds(20)) { result != nil && thread.isFinished })
        let id = try #require(try result?.get())
        #expect(poll(timeout: .seconds(10)) { sandbox.log(state).contains("ready=1") })
        // Not our child: re-parented away from us when the intermediate process exited.
        let snapshot = try ProcFS.snapshot(pid: id.pid)
        #expect(snapshot.parentPID != getpid())
        #expect(id.isAlive)
        #expect(try ContainerRuntime.stop(id, signal: SIGTERM, timeout: .seconds(10)) == .exited)
        #expect(ContainerRuntime.readExitRecord(stateDir: state)?.status == .signaled(SIGTERM))
    }

    @Test func withoutPIDNamespaceInitStillReapsAndRecords() throws {
        let sandbox = try ContainerSandbox("no-pidns")
        defer { sandbox.cleanup() }
        // init is not PID 1 here, but a child subreaper: orphans still come to it.
        let script = """
            echo ppid_is_init=$([ "$(cat /proc/$PPID/comm)" = berth-init ] && echo yes || echo no)
            sh -c 'sleep 0.3 & echo $! > /tmp/orphan'
            o=$(cat /tmp/orphan)
            echo orphan_parent_is_init=$([ "$(awk '{ print $4 }' /proc/$o/stat)" = "$PPID" ] && echo yes || echo no)
            i=0; while [ -e /proc/$o ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
            [ -e /proc/$o ] && echo orphan=left || echo orphan=reaped
            exit 4
            """
        let (log, exit) = try sandbox.run(sandbox.config(["/bin/sh", "-c", script], namespaces: [.mount, .uts]),
                                          timeout: .seconds(40))
        #expect(log.value(of: "ppid_is_init") == "yes", "\(log)")
        #expect(log.value(of: "orphan_parent_is_init") == "yes", "\(log)")
        #expect(log.value(of: "orphan") == "reaped", "\(log)")
        #expect(exit?.status == .exited(4))
    }
}
