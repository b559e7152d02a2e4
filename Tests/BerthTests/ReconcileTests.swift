import Berth
import BerthKernel
import Foundation
import Testing

/// `berth reconcile` as a user runs it: the real binary, the real kernel. Serialized,
/// since the tests measure reactions in seconds and the machine has two cores.
@Suite(.serialized, .enabled(if: geteuid() == 0, "needs root: creates cgroups and namespaces"))
struct ReconcileTests {
    static func container(_ name: String = "app", command: String = "sleep 1000", restart: String = "always",
                          memory: String = "64Mi") -> String {
        """
          \(name):
            rootfs: ./rootfs
            command: [/bin/sh, -c, "\(command)"]
            restart: \(restart)
            stopTimeout: 2s
            resources:
              memory: \(memory)
              pids: 32

        """
    }

    static func spec(_ containers: String...) -> String {
        "version: 1\ncontainers:\n" + (containers.isEmpty ? container() : containers.joined())
    }

    /// berth init itself (as `kill -9` of the pid in `berth status` does), or the command
    /// inside (which berth init records as killed by a signal).
    @Test(arguments: ["init", "command"])
    func killedContainerRunsAgainWithANewPID(victim: String) throws {
        let box = try Sandbox("rc-kill-\(victim)")
        defer { box.close() }
        try box.write(Self.spec())
        let reconciler = try ReconcilerRun(box)
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let first = try #require(try box.runningPID("app"))
        #expect(try box.restarts(of: "app") == 0)

        let target = victim == "init" ? first : try #require(try box.commandPID(of: "app"))
        kill(target, SIGKILL)
        #expect(try eventually(timeout: 3) { try box.runningPID("app").map { $0 != first } ?? false },
                "not running again within 3 s: \(reconciler.log)")
        let status = try #require(try box.container("app"))
        #expect(status["restarts"] as? Int == 1)
        #expect(status["state"] as? String == "running")
        let lastExit = status["lastExit"] as? [String: Any]
        if victim == "command" {
            #expect(lastExit?["signal"] as? Int == Int(SIGKILL), "\(status)")
        } else {
            // berth init was killed with everything in its PID namespace: nothing recorded.
            #expect(lastExit == nil, "\(status)")
        }
        // The restart is one line, saying why.
        let starts = reconciler.lines.filter { $0.contains("msg=\"start container app: started again") }
        #expect(starts.count == 1, "\(reconciler.log)")
        let why = victim == "init" ? "berth init gone" : "killed by SIGKILL"
        #expect(starts.first?.contains(why) ?? false, "\(reconciler.log)")
        #expect(reconciler.zombieChildren().isEmpty)
    }

    @Test func crashLoopIsSpacedByTheBackoff() throws {
        let box = try Sandbox("rc-backoff")
        defer { box.close() }
        try box.write(Self.spec(Self.container(command: "exit 1")))
        let started = Date()
        let reconciler = try ReconcilerRun(box)
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }

        // Created, exits, started again at once, exits: the next start waits 10 s.
        var status: [String: Any] = [:]
        #expect(try eventually(timeout: 5) {
            status = try box.container("app") ?? [:]
            return status["restarts"] as? Int == 1 && status["state"] as? String == "exited"
                && status["nextStartAt"] != nil
        }, "\(status) \(reconciler.log)")
        let lastExit = try #require(status["lastExit"] as? [String: Any])
        #expect(lastExit["exitCode"] as? Int == 1)
        let finished = try #require(lastExit["finishedAt"] as? Double)
        let next = try #require(status["nextStartAt"] as? Double)
        #expect(abs(next - finished - 10) < 0.5, "next attempt \(next - finished) s after the exit")
        let text = try box.run("status", "-p", box.project)
        #expect(text.stdout.contains("exited with code 1"), "\(text.stdout)")
        #expect(text.stdout.contains("next start in"), "\(text.stdout)")

        // A busy loop would have restarted it dozens of times by now.
        let wait = 4 - Date().timeIntervalSince(started)
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        let count = try #require(try box.restarts(of: "app"))
        #expect((1...2).contains(count), "\(count) restarts in 4 s")
        #expect(reconciler.lines.filter { $0.contains("backing off container app") }.count == 1, "\(reconciler.log)")

        // And the backoff ends: the second restart comes, not before it was due.
        #expect(try eventually(timeout: 14) { try box.restarts(of: "app") == 2 }, "\(reconciler.log)")
        #expect(Date().timeIntervalSince1970 >= next - 0.1)
        #expect(reconciler.zombieChildren().isEmpty)
    }

    @Test func onFailureAfterSuccessAndNeverStayStopped() throws {
        let box = try Sandbox("rc-policy")
        defer { box.close() }
        try box.write(Self.spec(
            Self.container("done", command: "exit 0", restart: "on-failure"),
            Self.container("once", command: "exit 3", restart: "never"),
            Self.container("failing", command: "exit 4", restart: "on-failure")))
        let reconciler = try ReconcilerRun(box)
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        // The on-failure container that failed is started again: the reconciler is at work.
        #expect(try eventually(timeout: 5) { try box.restarts(of: "failing") == 1 }, "\(reconciler.log)")
        // Three more passes.
        usleep(3_200_000)
        for name in ["done", "once"] {
            let status = try #require(try box.container(name))
            #expect(status["state"] as? String == "exited", "\(name): \(status)")
            #expect(status["restarts"] as? Int == 0, "\(name): \(status)")
        }
        #expect(!reconciler.log.contains("start container done:"), "\(reconciler.log)")
        #expect(!reconciler.log.contains("start container once:"), "\(reconciler.log)")
    }

    @Test func handWrittenMemoryLimitIsRestoredWithinAnInterval() throws {
        let box = try Sandbox("rc-drift")
        defer { box.close() }
        try box.write(Self.spec())
        let reconciler = try ReconcilerRun(box)
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let pid = try box.runningPID("app")
        let driver = try box.cgroups
        var limits = try driver.limits(of: box.cgroup("app"))
        limits.memoryBytes = 100 << 20
        try driver.apply(limits, to: box.cgroup("app"))
        #expect(try eventually(timeout: 3) { try box.memoryLimit(of: "app") == 64 << 20 }, "\(reconciler.log)")
        #expect(try box.runningPID("app") == pid)
        let line = try #require(reconciler.lines.first { $0.contains("update container app") })
        #expect(line.contains("drift=true"))
        #expect(line.contains("resources.memory=\"100Mi -> 64Mi\""), "\(line)")
    }

    /// Nothing tells when a hostname changes inside a container: the periodic pass must see it.
    @Test func hostnameChangedInsideIsRestoredWithinAnInterval() throws {
        let box = try Sandbox("rc-hostname")
        defer { box.close() }
        try box.write(Self.spec())
        let reconciler = try ReconcilerRun(box)
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let pid = try #require(try box.runningPID("app"))
        // From the host, into the container's UTS namespace (its root lacks CAP_SYS_ADMIN).
        // (No `berth exec` to look: joining the cgroup is an event, and would wake it early.)
        let id = try ProcessIdentity.read(pid: pid)
        try ProcFS.setHostname("elsewhere", of: id)
        #expect(try eventually(timeout: 3) { try ProcFS.hostname(of: id) == "app" }, "\(reconciler.log)")
        #expect(try box.runningPID("app") == pid)
        let line = try #require(reconciler.lines.first { $0.contains("update container app") })
        #expect(line.contains("hostname=\"elsewhere -> app\""), "\(line)")
    }

    /// Links have no events here: a project with networks is observed completely on every pass.
    @Test func deletedVethAndBridgeAreRestoredWithinAnInterval() throws {
        let box = try Sandbox("rc-net")
        defer { box.close() }
        let prefix = try box.subnet(0).prefix
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(prefix).0/24}
            containers:
              app:
                rootfs: ./rootfs
                command: [/bin/sh, -c, "sleep 1000"]
                stopTimeout: 1s
                networks:
                  front: {ip: \(prefix).10}
            """)
        let reconciler = try ReconcilerRun(box)
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let pid = try #require(try box.runningPID("app"))
        let host = try RouteNetlink()
        let bridge = Network.defaultBridgeName(project: box.project, network: "front")
        let veth = NetworkNames.hostVeth(project: box.project, container: "app", network: "front")
        #expect(try host.link(.name(veth)) != nil)

        try host.deleteLink(.name(veth))
        #expect(try eventually(timeout: 3) { try host.link(.name(veth)) != nil }, "\(reconciler.log)")
        try host.deleteLink(.name(bridge))
        #expect(try eventually(timeout: 3) {
            try host.link(.name(bridge)) != nil && box.plan("--detailed-exitcode").status == 0
        }, "\(reconciler.log)")
        #expect(try box.runningPID("app") == pid)
        #expect(reconciler.zombieChildren().isEmpty)
    }

    @Test func specEditRollsOutAtOnceAndAnInvalidEditIsRefused() throws {
        let box = try Sandbox("rc-edit")
        defer { box.close() }
        try box.write(Self.spec())
        let reconciler = try ReconcilerRun(box, interval: "30s")
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let pid = try #require(try box.runningPID("app"))

        try box.write(Self.spec(Self.container(memory: "128Mi")))
        #expect(try eventually(timeout: 3) { try box.memoryLimit(of: "app") == 128 << 20 }, "\(reconciler.log)")
        #expect(try box.runningPID("app") == pid)
        #expect(reconciler.log.contains("resources.memory=\"64Mi -> 128Mi\""), "\(reconciler.log)")

        try box.write(Self.spec(Self.container(memory: "12Zi")))
        #expect(eventually(timeout: 3) { reconciler.log.contains("is not a size") }, "\(reconciler.log)")
        let error = try #require(reconciler.lines.first { $0.contains("is not a size") })
        #expect(error.contains("level=error"))
        #expect(error.contains("\(box.project).yaml:"), "the diagnostic names file:line:col: \(error)")
        #expect(try box.memoryLimit(of: "app") == 128 << 20)
        #expect(try box.runningPID("app") == pid)

        // The last valid spec stays in force: a killed container comes back with it.
        kill(pid, SIGKILL)
        #expect(try eventually(timeout: 3) { try box.runningPID("app").map { $0 != pid } ?? false }, "\(reconciler.log)")
        #expect(try box.memoryLimit(of: "app") == 128 << 20)
        #expect(reconciler.process.isRunning)
    }

    @Test func sighupRereadsTheSpec() throws {
        let box = try Sandbox("rc-hup")
        defer { box.close() }
        try box.write(Self.spec())
        let reconciler = try ReconcilerRun(box, interval: "30s")
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        // Written through a descriptor kept open: no close, no rename, so nothing tells
        // the file watcher; only the signal does.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: box.specPath))
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(Self.spec(Self.container(memory: "96Mi")).utf8))
        try handle.synchronize()
        usleep(1_500_000)
        #expect(try box.memoryLimit(of: "app") == 64 << 20, "changed before SIGHUP")
        reconciler.send(SIGHUP)
        #expect(try eventually(timeout: 3) { try box.memoryLimit(of: "app") == 96 << 20 }, "\(reconciler.log)")
        #expect(reconciler.log.contains("SIGHUP"))
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func stopSignalLeavesContainersRunningAndARestartAdoptsThem(signal: Int32) throws {
        let box = try Sandbox("rc-stop-\(signal)")
        defer { box.close() }
        try box.write(Self.spec(Self.container("a"), Self.container("b")))
        let first = try ReconcilerRun(box)
        defer { first.stop() }
        guard first.waitReady() else { return }
        let pids = try [box.runningPID("a"), box.runningPID("b")]
        #expect(!pids.contains(nil))

        first.send(signal)
        #expect(first.waitExit(timeout: 2) == 0, "\(first.log)")
        #expect(first.log.contains("reconciler stopped"))
        #expect(first.notify.received.contains("STOPPING=1"))
        for pid in pids.compactMap({ $0 }) { #expect(!gone(pid)) }

        let second = try ReconcilerRun(box)
        defer { second.stop() }
        guard second.waitReady() else { return }
        usleep(1_500_000)
        #expect(try [box.runningPID("a"), box.runningPID("b")] == pids)
        #expect(try box.restarts(of: "a") == 0)
        #expect(try box.restarts(of: "b") == 0)
        #expect(!second.log.contains("container a:") && !second.log.contains("container b:"), "\(second.log)")

        // It continues: a kill is repaired.
        let a = try #require(pids[0])
        kill(a, SIGKILL)
        #expect(try eventually(timeout: 3) { try box.runningPID("a").map { $0 != a } ?? false }, "\(second.log)")
        #expect(try box.restarts(of: "a") == 1)
    }

    /// SIGTERM in the middle of an apply: the step in progress is finished, the next is not.
    @Test func stopSignalDuringAnApplyFinishesTheStepOnly() throws {
        let box = try Sandbox("rc-midapply")
        defer { box.close() }
        // Commands that ignore SIGTERM: each stop lasts its whole stopTimeout.
        func spec(_ seconds: Int) -> String {
            Self.spec(Self.container("a", command: "trap '' TERM; sleep \(seconds)"),
                      Self.container("b", command: "trap '' TERM; sleep \(seconds)"))
                .replacingOccurrences(of: "stopTimeout: 2s", with: "stopTimeout: 3s")
        }
        try box.write(spec(1000))
        let reconciler = try ReconcilerRun(box, interval: "30s")
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let a = try #require(try box.runningPID("a")), b = try #require(try box.runningPID("b"))

        try box.write(spec(2000)) // both must be replaced, a first
        let lockPath = "\(box.stateDirectory)/\(box.project)/lock"
        #expect(eventually(timeout: 3) {
            let fd = open(lockPath, O_RDWR | O_CLOEXEC)
            defer { if fd >= 0 { close(fd) } }
            return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0
        }, "the apply did not start: \(reconciler.log)")
        // The lock is taken a moment before the first step; a's stop then lasts 3 s.
        usleep(500_000)
        let signalled = Date()
        reconciler.send(SIGTERM)
        #expect(reconciler.waitExit(timeout: 8) == 0, "\(reconciler.log)")
        // The step in progress (up to its 3 s stop timeout), then at once.
        #expect(Date().timeIntervalSince(signalled) < 5.5, "\(reconciler.log)")
        #expect(try box.runningPID("a") != a)
        #expect(try box.runningPID("b") == b, "the next step ran after SIGTERM: \(reconciler.log)")
        #expect(reconciler.log.contains("reconciler stopped"))
    }

    @Test func aSecondReconcilerIsRefused() throws {
        let box = try Sandbox("rc-second")
        defer { box.close() }
        try box.write(Self.spec())
        let first = try ReconcilerRun(box)
        defer { first.stop() }
        guard first.waitReady() else { return }
        let second = try ReconcilerRun(box)
        defer { second.stop() }
        let status = second.waitExit(timeout: 10)
        #expect(status != nil && status != 0)
        #expect(second.log.contains("another reconciler is running for this project"), "\(second.log)")
        #expect(second.log.contains("pid \(first.pid)"), "\(second.log)")
        #expect(first.process.isRunning)
    }

    @Test func planStatusAndApplyWorkWhileItRuns() throws {
        let box = try Sandbox("rc-side")
        defer { box.close() }
        try box.write(Self.spec())
        let reconciler = try ReconcilerRun(box)
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
        #expect(try box.runningPID("app") != nil)
        let apply = try box.run("apply", "-f", box.specPath, "--lock-timeout", "10s")
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("nothing to do"))
        // A change applied by hand is the reconciler's spec too: nothing to undo.
        try box.write(Self.spec(Self.container(memory: "80Mi")))
        let change = try box.run("apply", "-f", box.specPath, "--lock-timeout", "10s")
        #expect(change.status == 0, "\(change.stderr)")
        #expect(try box.memoryLimit(of: "app") == 80 << 20)
    }

    /// The reconciler takes its turn behind another berth holding the project's lock, and
    /// still stops at once when told to while it waits.
    @Test func waitsForTheLockAndStopsWhileWaiting() throws {
        let box = try Sandbox("rc-lock")
        defer { box.close() }
        try box.write(Self.spec())
        let reconciler = try ReconcilerRun(box)
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let lockPath = "\(box.stateDirectory)/\(box.project)/lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        let holder = "\(getpid()) apply\n"
        _ = holder.withCString { pwrite(fd, $0, strlen($0), 0) }
        #expect(flock(fd, LOCK_EX) == 0)

        let pid = try #require(try box.runningPID("app"))
        kill(pid, SIGKILL)
        #expect(eventually(timeout: 3) { reconciler.log.contains("waiting for the lock") }, "\(reconciler.log)")
        #expect(try box.runningPID("app") == nil)
        flock(fd, LOCK_UN)
        #expect(try eventually(timeout: 3) { try box.runningPID("app") != nil }, "\(reconciler.log)")
        #expect(reconciler.lines.filter { $0.contains("waiting for the lock") }.count == 1, "\(reconciler.log)")

        #expect(flock(fd, LOCK_EX) == 0)
        let again = try #require(try box.runningPID("app"))
        kill(again, SIGKILL)
        usleep(300_000)
        reconciler.send(SIGTERM)
        #expect(reconciler.waitExit(timeout: 2) == 0, "\(reconciler.log)")
        flock(fd, LOCK_UN)
    }

    @Test func systemdNotifyReadyAndWatchdog() throws {
        let box = try Sandbox("rc-notify")
        defer { box.close() }
        try box.write(Self.spec())
        // A watchdog of 1 s asks for a ping every half second, whatever the interval.
        let reconciler = try ReconcilerRun(box, interval: "30s", environment: ["WATCHDOG_USEC": "1000000"])
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        // READY=1 comes after the first pass: the container already runs.
        #expect(try box.runningPID("app") != nil)
        #expect(reconciler.notify.received.contains { $0.hasPrefix("STATUS=reconciling \(box.project)") })
        #expect(eventually(timeout: 4) { reconciler.notify.count("WATCHDOG=1") >= 4 },
                "\(reconciler.notify.received)")
        reconciler.send(SIGTERM)
        #expect(reconciler.waitExit(timeout: 2) == 0)
        #expect(reconciler.notify.received.last == "STOPPING=1")
    }

    @Test func jsonLogLinesAndQuietTicks() throws {
        let box = try Sandbox("rc-log")
        defer { box.close() }
        try box.write(Self.spec())
        let reconciler = try ReconcilerRun(box, logFormat: "json")
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        // Nothing to do, nothing said: three quiet passes.
        let before = reconciler.log
        usleep(3_500_000)
        #expect(reconciler.log == before, "logged on a quiet tick: \(reconciler.log.dropFirst(before.count))")

        let pid = try #require(try box.runningPID("app"))
        kill(pid, SIGKILL)
        #expect(try eventually(timeout: 3) { try box.runningPID("app").map { $0 != pid } ?? false })
        _ = eventually(timeout: 2) { reconciler.log.contains("started again") }
        var objects: [[String: Any]] = []
        for line in reconciler.lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)")
            if let object { objects.append(object) }
        }
        for object in objects {
            #expect(object["msg"] is String && object["level"] is String && object["time"] is String, "\(object)")
        }
        let start = try #require(objects.first { ($0["msg"] as? String)?.contains("started again") ?? false })
        #expect(start["container"] as? String == "app")
        #expect(start["action"] as? String == "start")
        #expect((start["reason"] as? String)?.contains("restart: always") ?? false)
        #expect(start["drift"] as? String == "true")
        // One line for the creation, one for the restart, around the start and stop lines.
        #expect(objects.filter { $0["container"] != nil }.count == 2, "\(reconciler.log)")
    }
}
