@testable import Berth
import BerthKernel
import Foundation
import Logging
import Testing

@Suite("Healthchecks under berth reconcile", .enabled(if: geteuid() == 0, "needs root"))
struct HealthcheckTests {
    static func spec(check: String, restart: String = "always") -> String {
        """
        version: 1
        containers:
          app:
            rootfs: ./rootfs
            command: [sleep, "1000"]
            restart: \(restart)
            stopTimeout: 2s
            healthcheck:
        \(check)

        """
    }

    func health(_ box: Sandbox, _ name: String = "app") throws -> [String: Any]? {
        try box.container(name)?["health"] as? [String: Any]
    }

    /// starting (failures in the start period do not count) -> healthy when the service
    /// works -> unhealthy when it breaks -> stopped and started again, with a new run
    /// that starts over at starting.
    @Test func startingHealthyUnhealthyAndRestarted() throws {
        let box = try Sandbox("health-cycle")
        defer { box.close() }
        for applet in ["test", "rm"] {
            try FileManager.default.createSymbolicLink(atPath: "\(box.rootfs)/bin/\(applet)", withDestinationPath: "busybox")
        }
        let ok = box.rootfs + "/tmp/ok"
        try box.write(Self.spec(check: """
                  test: ["CMD-SHELL", "test -e /tmp/ok && echo fine"]
                  interval: 300ms
                  timeout: 2s
                  retries: 2
                  startPeriod: 2s
                  startInterval: 200ms
            """))
        let reconciler = try ReconcilerRun(box, interval: "1s")
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let first = try #require(try box.runningPID("app"))
        // The start period: checks fail, the container stays "starting".
        #expect(try eventually(timeout: 5) { ((try health(box)?["log"] as? [Any])?.count ?? 0) >= 2 }, "\(reconciler.log)")
        #expect(try health(box)?["status"] as? String == "starting")
        #expect(try box.run("status", "-p", box.project).stdout.contains("running (starting)"))

        FileManager.default.createFile(atPath: ok, contents: nil)
        #expect(try eventually(timeout: 5) { try health(box)?["status"] as? String == "healthy" }, "\(reconciler.log)")
        let log = try #require(try health(box)?["log"] as? [[String: Any]])
        #expect(log.last?["exitCode"] as? Int == 0 && log.last?["output"] as? String == "fine\n", "\(log)")
        #expect(reconciler.log.contains("container app is healthy"))

        try FileManager.default.removeItem(atPath: ok)
        #expect(try eventually(timeout: 10) { try box.runningPID("app").map { $0 != first } ?? false },
                "not restarted after turning unhealthy: \(reconciler.log)")
        #expect(reconciler.log.contains("container app is unhealthy: 2 checks failed in a row"), "\(reconciler.log)")
        #expect(reconciler.log.contains("stopped for being unhealthy"), "\(reconciler.log)")
        #expect(try box.restarts(of: "app") == 1)
        // The new run is judged afresh.
        #expect(try health(box)?["status"] as? String == "starting")
    }

    /// A check that hangs is killed at its timeout and counts as a failure; with
    /// onUnhealthy: none the container stays; no check process is left behind.
    @Test func aHangingCheckTimesOutAndLeavesNothing() throws {
        let box = try Sandbox("health-hang")
        defer { box.close() }
        try box.write(Self.spec(check: """
                  test: ["CMD", "sleep", "777"]
                  interval: 200ms
                  timeout: 300ms
                  retries: 2
                  onUnhealthy: none
            """))
        let reconciler = try ReconcilerRun(box, interval: "1s")
        guard reconciler.waitReady() else { return }
        let pid = try #require(try box.runningPID("app"))
        #expect(try eventually(timeout: 10) { try health(box)?["status"] as? String == "unhealthy" }, "\(reconciler.log)")
        let log = try #require(try health(box)?["log"] as? [[String: Any]])
        #expect(log.allSatisfy { $0["timedOut"] as? Bool == true }, "\(log)")
        // Stopped, the reconciler has finished its last check: nothing of the checks remains.
        reconciler.stop()
        let members = try box.cgroups.processes(in: box.cgroup("app"))
        let commands = members.compactMap { try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8) }
        #expect(!commands.contains("sleep\u{0}777\u{0}"), "\(commands)")
        #expect(try box.runningPID("app") == pid, "onUnhealthy: none must not restart it")
        #expect(try box.run("status", "-p", box.project).stdout.contains("running (unhealthy)"))
    }

    /// A container whose init has no healthcheck endpoint (started by an older berth; here
    /// its socket is removed) is still checked, through an exec relay.
    @Test func aContainerWithoutTheEndpointIsCheckedThroughExec() throws {
        let box = try Sandbox("health-fallback")
        defer { box.close() }
        try box.write(Self.spec(check: """
                  test: ["CMD", "sleep", "0"]
                  interval: 200ms
                  timeout: 5s
            """))
        let reconciler = try ReconcilerRun(box, interval: "1s")
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let socket = ContainerRuntime.healthSocketPath(stateDir: StateStore(root: box.stateDirectory)
            .containerDirectory(box.project, "app"))
        #expect(try eventually(timeout: 5) { try health(box)?["status"] as? String == "healthy" }, "\(reconciler.log)")
        #expect(unlink(socket) == 0)
        let removed = Date().timeIntervalSince1970
        #expect(try eventually(timeout: 10) {
            let log = try health(box)?["log"] as? [[String: Any]] ?? []
            return log.filter { ($0["start"] as? Double ?? 0) > removed && $0["exitCode"] as? Int == 0 }.count >= 2
        }, "\(reconciler.log)")
        #expect(try health(box)?["status"] as? String == "healthy")
        #expect(!reconciler.log.contains("could not run"), "\(reconciler.log)")
    }

    /// Checks due within an eighth of their interval of one that is due run with it, in one
    /// wake-up of the monitor, and are due together from then on; one further away waits
    /// for its own time. The records handed to the monitor move the runs' start times
    /// (what it schedules by); the checks themselves are real, on the containers' endpoints.
    @Test func checksDueTogetherRunTogether() throws {
        let box = try Sandbox("health-batch")
        defer { box.close() }
        var text = "version: 1\ncontainers:\n"
        for name in ["a", "b", "c"] {
            text += """
              \(name):
                rootfs: ./rootfs
                command: [sleep, "1000"]
                healthcheck: {test: [CMD, "true"], interval: 800ms}

            """
        }
        try box.write(text)
        _ = try box.apply()
        let spec = try SpecLoader.load(path: box.specPath).get()
        let engine = try Engine.host(stateDirectory: box.stateDirectory, executable: box.berthInit)
        let check = try #require(spec.containers.first?.healthcheck)
        #expect(HealthChecker.batchWindow(check) == 0.1)
        var records = try engine.store.records(spec.project)
        let started = try #require(records.containers["a"]?.startedAt)
        // b due 60 ms after a (inside the 100 ms window), c 300 ms after (outside).
        records.containers["b"]?.startedAt = started + 0.06
        records.containers["c"]?.startedAt = started + 0.3
        let monitor = HealthMonitor(engine: engine, logger: Logger(label: "test"))
        let firstDue = started + 0.8
        let next = try #require(monitor.runDue(spec: spec, now: firstDue, records: records))
        func log(_ name: String) throws -> [HealthResult] {
            let run = try #require(records.containers[name]?.process)
            return monitor.checker.record(project: spec.project, name: name, run: run).log
        }
        #expect(try log("a").count == 1 && log("b").count == 1, "b is checked with a")
        #expect(try log("c").isEmpty, "c is not due yet")
        // Asked in the same wake-up, one right after the other.
        let (a, b) = (try #require(try log("a").last), try #require(try log("b").last))
        #expect(a.exitCode == 0 && b.exitCode == 0, "\(a) \(b)")
        #expect(abs(a.start - b.start) < 0.05, "\(a) \(b)")
        #expect(abs(next - min(started + 1.1, a.end + 0.8, b.end + 0.8)) < 0.001, "next wake-up \(next)")
    }
}
