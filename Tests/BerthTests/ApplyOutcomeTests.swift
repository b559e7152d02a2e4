import Berth
import BerthKernel
import Foundation
import Testing

/// What apply says of what it started, and `apply --wait`.
@Suite("apply reports exits and waits", .enabled(if: geteuid() == 0, "needs root"))
struct ApplyOutcomeTests {
    /// A command that exits during the apply is reported with its status, an error unless
    /// its restart policy expects it (a `never` job that exited 0 completed).
    /// In-process, so that the test can hold the apply after each start until the
    /// one-shot commands have ended: what apply then finds does not depend on timing.
    @Test func aCommandThatExitsDuringTheApplyIsReported() throws {
        let box = try Sandbox("apply-exit")
        defer { box.close() }
        let text = """
            version: 1
            containers:
              bad:
                rootfs: ./rootfs
                command: [sh, -c, "exit 3"]
                restart: on-failure
              job:
                rootfs: ./rootfs
                command: [sh, -c, "exit 0"]
                restart: never
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
            """
        try box.write(text)
        let spec = try SpecLoader.load(text: text, fileName: "\(box.project).yaml", baseDirectory: box.directory).get()
        let engine = try Engine.host(stateDirectory: box.stateDirectory, executable: box.berthInit)
        let lock = try engine.lock(project: spec.project, command: "apply", timeout: 10)
        defer { lock.release() }
        let (plan, _, records) = try engine.plan(spec)
        let report = try engine.apply(spec, plan: plan, records: records) { step in
            guard step.action.object.name != "web" else { return }
            _ = try? eventually { try engine.observer.observeExit(project: spec.project, name: step.action.object.name) != nil }
        }
        let exited = try engine.exitedDuringApply(report, spec: spec)
        #expect(exited.map(\.container) == ["bad", "job"], "\(exited)")
        let bad = try #require(exited.first { $0.container == "bad" })
        #expect(bad.exit.status == .exited(3) && !bad.expected)
        #expect(bad.description == "container bad exited with code 3 during the apply (restart: on-failure: berth reconcile starts it again, with the backoff)",
                "\(bad.description)")
        let job = try #require(exited.first { $0.container == "job" })
        #expect(job.expected && job.description == "container job exited with code 0: completed (restart: never)", "\(job.description)")
    }

    /// The CLI: the exit of a command during apply makes apply exit 1, naming it.
    @Test func applyExitsOneForAnUnexpectedExit() throws {
        let box = try Sandbox("apply-exit-cli")
        defer { box.close() }
        // It waits for a job that ends only once `bad` has ended: by then apply must see both.
        try box.write("""
            version: 1
            containers:
              bad:
                rootfs: ./rootfs
                command: [sh, -c, "exit 3"]
                restart: never
              gate:
                rootfs: ./rootfs
                command: [sh, -c, "while ! grep -q bad /tmp/ended 2>/dev/null; do sleep 0.05; done"]
                restart: never
                dependsOn: {bad: {condition: started}}
              after:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                dependsOn: {gate: {condition: completed}}
            """)
        // The gate file is written by the test once bad's exit is recorded, from another thread.
        let stop = ManagedFlag()
        let watcher = Thread {
            let exitPath = box.stateDirectory
            while !stop.isSet {
                if let found = FileManager.default.enumerator(atPath: exitPath)?.first(where: { ($0 as? String)?.hasSuffix("bad/exit.json") ?? false }) {
                    _ = found
                    try? "bad\n".write(toFile: box.rootfs + "/tmp/ended", atomically: true, encoding: .utf8)
                    return
                }
                usleep(20_000)
            }
        }
        watcher.start()
        defer { stop.set() }
        let r = try box.run("apply", "-f", box.specPath)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("berth: error: container bad exited with code 3 during the apply (restart: never: it stays stopped)"),
                "\(r.stderr)")
        #expect(r.stdout.contains("container gate exited with code 0: completed (restart: never)"), "\(r.stdout)")
        #expect(r.stdout.contains("Apply complete: 3 created"), "\(r.stdout)")
    }

    /// A command that ends a moment after its start (here half a second, as a server that
    /// cannot read its config would): `--settle` watches each started container that long and
    /// reports it; `--wait` does the same by default (1s) rather than call it ready.
    @Test func aCommandThatExitsJustAfterTheApplyIsReportedWithSettle() throws {
        let box = try Sandbox("apply-settle")
        defer { box.close() }
        try box.write("""
            version: 1
            containers:
              late:
                rootfs: ./rootfs
                command: [sh, -c, "sleep 0.5; exit 3"]
                restart: never
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
            """)
        let r = try box.run("apply", "-f", box.specPath, "--settle", "10s")
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("berth: error: container late exited with code 3 during the apply (restart: never: it stays stopped)"),
                "\(r.stderr)")
        #expect(!r.stderr.contains("container web"), "\(r.stderr)")
        #expect(try box.container("web")?["state"] as? String == "running")

        _ = try box.run("destroy", "-f", box.specPath)
        let waited = try box.run("apply", "-f", box.specPath, "--wait")
        #expect(waited.status == 1, "\(waited.stdout)\(waited.stderr)")
        #expect(waited.stderr.contains("berth: error: container late did not become running: it exited with code 3"),
                "\(waited.stderr)")
        #expect(!waited.stderr.contains("container web"), "\(waited.stderr)")
    }

    /// `apply --wait`: waits for healthy where there is a healthcheck, says which container
    /// did not get there and why (its command exited; still starting at the timeout), all at once.
    @Test func waitForHealthyAndNameWhatDidNotComeTrue() throws {
        let box = try Sandbox("apply-wait")
        defer { box.close() }
        try FileManager.default.createSymbolicLink(atPath: "\(box.rootfs)/bin/test", withDestinationPath: "busybox")
        func spec(withBad: Bool) -> String {
            """
            version: 1
            containers:
              db:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                healthcheck: {test: ["CMD", "test", "-e", "/tmp/ready"], interval: 100ms, startInterval: 100ms, retries: 1000}
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                healthcheck: {test: ["CMD", "true"], interval: 100ms, startInterval: 100ms}
              plain:
                rootfs: ./rootfs
                command: [sleep, "1000"]
            """ + (withBad ? """

              bad:
                rootfs: ./rootfs
                command: [sh, -c, "exit 3"]
                healthcheck: {test: ["CMD", "true"], interval: 60s, startInterval: 60s}
            """ : "")
        }
        try box.write(spec(withBad: true))
        let r = try box.run("apply", "-f", box.specPath, "--wait", "--wait-timeout", "2s")
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("berth: error: container bad did not become healthy: it exited with code 3"), "\(r.stderr)")
        #expect(r.stderr.contains("berth: error: container db did not become healthy within 2s (--wait-timeout)"), "\(r.stderr)")
        #expect(!r.stderr.contains("container web") && !r.stderr.contains("container plain"), "\(r.stderr)")
        #expect(r.stdout.contains("container web is healthy"), "\(r.stdout)")

        FileManager.default.createFile(atPath: box.rootfs + "/tmp/ready", contents: nil)
        try box.write(spec(withBad: false))
        let ok = try box.run("apply", "-f", box.specPath, "--wait")
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("container db is healthy") && ok.stdout.contains("Every container is ready."), "\(ok.stdout)")
        #expect(try box.container("db")?["health"].flatMap { ($0 as? [String: Any])?["status"] as? String } == "healthy")
    }
}

/// A flag set from one thread, read from another.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
