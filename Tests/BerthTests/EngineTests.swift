import Berth
import BerthKernel
import Foundation
import Testing

/// plan, apply, destroy and status as a user runs them, against the real kernel.
@Suite(.enabled(if: geteuid() == 0, "needs root: creates cgroups and namespaces"))
struct EngineTests {
    static func spec(memory: String = "64Mi", command: String = "sleep 1000", restart: String = "always",
                     extra: String = "") -> String {
        """
        version: 1
        containers:
          app:
            rootfs: ./rootfs
            command: [/bin/sh, -c, "\(command)"]
            restart: \(restart)
            stopTimeout: 2s
            resources:
              memory: \(memory)
              cpus: 0.5
              pids: 32
        \(extra)
        """
    }

    @Test func applyThenPlanShowsNoChanges() throws {
        let box = try Sandbox("nochange")
        defer { box.close() }
        try box.write(Self.spec())
        let first = try box.plan("--detailed-exitcode")
        #expect(first.status == 2)
        #expect(first.stdout.contains("+ container app: will be created"))
        #expect(first.stdout.contains("Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy."))
        let applied = try box.apply()
        #expect(applied.stdout.contains("container app: created"))
        let again = try box.plan("--detailed-exitcode")
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(again.stdout.contains("No changes. Running state matches the spec."))
        // Applying twice is a no-op.
        let second = try box.apply()
        #expect(second.stdout.contains("nothing to do"))
    }

    @Test func raisedMemoryIsUpdatedInPlace() throws {
        let box = try Sandbox("memory")
        defer { box.close() }
        try box.write(Self.spec(memory: "64Mi"))
        try box.apply()
        let pid = try #require(try box.pid(of: "app"))
        try box.write(Self.spec(memory: "128Mi"))
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 2)
        #expect(plan.stdout.contains("~ container app: will be updated in place"))
        #expect(plan.stdout.contains("resources.memory: 64Mi -> 128Mi"))
        try box.apply()
        #expect(try box.pid(of: "app") == pid)
        #expect(try box.cgroups.limits(of: box.cgroup("app")).memoryBytes == 128 << 20)
    }

    @Test func handWrittenLimitIsDriftAndRepaired() throws {
        let box = try Sandbox("drift")
        defer { box.close() }
        try box.write(Self.spec(memory: "64Mi"))
        try box.apply()
        let driver = try box.cgroups
        var limits = try driver.limits(of: box.cgroup("app"))
        limits.memoryBytes = 100 << 20
        try driver.apply(limits, to: box.cgroup("app"))
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 2)
        #expect(plan.stdout.contains("changed outside berth"))
        #expect(plan.stdout.contains("resources.memory: 100Mi -> 64Mi"))
        #expect(plan.stdout.contains("100Mi -> 64Mi  # drift"))
        let json = try box.plan("--output", "json")
        #expect(json.stdout.contains("\"observed\" : \"100Mi\""))
        try box.apply()
        #expect(try driver.limits(of: box.cgroup("app")).memoryBytes == 64 << 20)
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test func killedContainerIsReportedAndStartedAgain() throws {
        let box = try Sandbox("killed")
        defer { box.close() }
        try box.write(Self.spec())
        try box.apply()
        let pid = try #require(try box.pid(of: "app"))
        kill(pid, SIGKILL)
        #expect(try eventually { try box.pid(of: "app") == nil })
        let plan = try box.plan()
        #expect(plan.stdout.contains("~ container app: will be started again"))
        #expect(plan.stdout.contains("changed outside berth"))
        try box.apply()
        let again = try #require(try box.pid(of: "app"))
        #expect(again != pid)
        #expect(try box.status().first?["restarts"] as? Int == 1)
    }

    @Test func exitedContainerUnderRestartNeverIsLeftAndReported() throws {
        let box = try Sandbox("never")
        defer { box.close() }
        try box.write(Self.spec(command: "exit 3", restart: "never"))
        // Apply reports the exit if it has happened by its end (then it exits 1), and
        // succeeds if the command still ran when it looked (ApplyOutcomeTests pins both down).
        let first = try box.run("apply", "-f", box.specPath)
        #expect(first.status == 0 || (first.status == 1
            && first.stderr.contains("container app exited with code 3 during the apply (restart: never: it stays stopped)")),
            "\(first.stdout)\(first.stderr)")
        #expect(try eventually { try box.status().first?["state"] as? String == "exited" })
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 0)
        #expect(plan.stdout.contains("container app: left as it is"))
        #expect(plan.stdout.contains("exited with code 3"))
        let apply = try box.apply()
        #expect(apply.stdout.contains("nothing to do"))
        #expect(try box.status().first?["state"] as? String == "exited")
    }

    @Test func changedCommandReplacesTheContainer() throws {
        let box = try Sandbox("replace")
        defer { box.close() }
        try box.write(Self.spec(command: "sleep 1000"))
        try box.apply()
        let pid = try #require(try box.pid(of: "app"))
        try box.write(Self.spec(command: "sleep 2000"))
        let plan = try box.plan()
        #expect(plan.stdout.contains("-/+ container app: must be replaced"))
        #expect(plan.stdout.contains("command:"))
        #expect(plan.stdout.contains("# forces replacement"))
        #expect(plan.stdout.contains("Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy."))
        try box.apply()
        let new = try #require(try box.pid(of: "app"))
        #expect(new != pid)
        // berth init runs the new command as its child.
        let children = try String(contentsOfFile: "/proc/\(new)/task/\(new)/children", encoding: .utf8)
        let child = try #require(children.split(separator: " ").first.flatMap { Int32($0) })
        // (busybox sh execs a lone command in place of itself)
        #expect(try ProcFS.commandLine(pid: child) == ["sleep", "2000"])
    }

    @Test func containerRemovedFromTheSpecIsDestroyed() throws {
        let box = try Sandbox("remove")
        defer { box.close() }
        try box.write(Self.spec(extra: """
              other:
                rootfs: ./rootfs
                command: [/bin/sh, -c, "sleep 1000 & sleep 1000"]
            """))
        try box.apply()
        let other = try #require(try box.pid(of: "other"))
        let driver = try box.cgroups
        let members = try driver.processes(in: box.cgroup("other"))
        #expect(members.count >= 2)
        try box.write(Self.spec())
        let plan = try box.plan()
        #expect(plan.stdout.contains("- container other: will be destroyed"))
        try box.apply()
        #expect(!driver.exists(box.cgroup("other")))
        #expect(eventually { members.allSatisfy(gone) })
        #expect(gone(other))
        #expect(try box.pid(of: "app") != nil)
    }

    @Test func concurrentAppliesAreSerialised() throws {
        let box = try Sandbox("lock")
        defer { box.close() }
        try box.write(Self.spec())
        let results = try [0, 1].map { _ in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: box.berth)
            process.arguments = ["apply", "-f", box.specPath]
            process.environment = ProcessInfo.processInfo.environment.merging(["BERTH_STATE_DIR": box.stateDirectory]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }.map { process -> Int32 in
            process.waitUntilExit()
            return process.terminationStatus
        }
        #expect(results == [0, 0])
        let status = try box.status()
        #expect(status.count == 1)
        #expect(try box.cgroups.processes(in: box.cgroup("app")).count == 2) // berth init and sleep
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test func invalidSpecAndMissingRootfsChangeNothing() throws {
        let box = try Sandbox("invalid")
        defer { box.close() }
        try box.write(Self.spec(memory: "12Zi"))
        let invalid = try box.run("apply", "-f", box.specPath)
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("\(box.project).yaml:"))
        #expect(invalid.stderr.contains("is not a size"))

        try box.write(Self.spec().replacingOccurrences(of: "./rootfs", with: "./no-such-rootfs"))
        let missing = try box.run("apply", "-f", box.specPath)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("containers.app.rootfs"))
        #expect(missing.stderr.contains("Nothing was changed"))
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))
        #expect(try box.status().isEmpty)
    }

    @Test func missingCommandFailsCleanly() throws {
        let box = try Sandbox("nocmd")
        defer { box.close() }
        try box.write(Self.spec().replacingOccurrences(of: "[/bin/sh, -c, \"sleep 1000\"]", with: "[/bin/nosuch]"))
        let r = try box.run("apply", "-f", box.specPath)
        #expect(r.status == 1)
        #expect(r.stderr.contains("/bin/nosuch"))
        #expect(!(try box.cgroups.exists(box.cgroup("app"))))
        // A container's record is written once, when it runs: a first start that failed
        // leaves neither a record nor its directory.
        let store = StateStore(root: box.stateDirectory)
        #expect(!FileManager.default.fileExists(atPath: store.containerDirectory(box.project, "app")))
    }

    /// berth killed in a first start before the container ran: no record was written (it is
    /// written once, when the container runs). Whatever the kill left (a directory; a cgroup
    /// with its limits; a running init) the next apply finishes, and destroy leaves nothing.
    @Test(arguments: [Failpoint.startAfterDirectory, .startAfterLimits, .startBeforeRecord])
    func aFirstStartKilledBeforeItsRecordIsFinishedOrRemovedByTheNextCommand(point: Failpoint) throws {
        let box = try Sandbox("kill1st")
        defer { box.close() }
        try box.write(Self.spec())
        let store = StateStore(root: box.stateDirectory)
        let killed = try box.run(["apply", "-f", box.specPath], environment: [Failpoint.variable: "\(point.rawValue):kill"])
        #expect(killed.signal == SIGKILL, "\(point.rawValue) not reached: \(killed.stdout)\(killed.stderr)")
        #expect(FileManager.default.fileExists(atPath: store.containerDirectory(box.project, "app")))
        #expect(!store.hasRecord(box.project, "app"), "a record before the container ran")
        // Left as it is, destroy removes every trace.
        let destroyed = try box.run("destroy", "-f", box.specPath)
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(box.stateDirectory)/\(box.project)"), "state left")
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))
        // Killed again, then applied: it runs, recorded, and the plan is empty.
        _ = try box.run(["apply", "-f", box.specPath], environment: [Failpoint.variable: "\(point.rawValue):kill"])
        try box.apply()
        #expect(store.hasRecord(box.project, "app"))
        #expect(try store.records(box.project).containers["app"]?.process != nil)
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
    }

    @Test func planChangesNothing() throws {
        let box = try Sandbox("readonly")
        defer { box.close() }
        try box.write(Self.spec())
        try box.apply()
        try box.write(Self.spec(memory: "128Mi"))
        let before = try snapshot(box)
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 2)
        #expect(try snapshot(box) == before)
        // No lock is left held: an apply gets it at once.
        let apply = try box.run("apply", "-f", box.specPath, "--lock-timeout", "0s")
        #expect(apply.status == 0, "\(apply.stderr)")
    }

    @Test func destroyRemovesEverything() throws {
        let box = try Sandbox("destroy")
        defer { box.close() }
        try box.write(Self.spec())
        try box.apply()
        let pid = try #require(try box.pid(of: "app"))
        let r = try box.run("destroy", "-f", box.specPath)
        #expect(r.status == 0)
        #expect(r.stdout.contains("container app: destroyed"))
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))
        #expect(eventually { gone(pid) })
        #expect(!FileManager.default.fileExists(atPath: "\(box.stateDirectory)/\(box.project)"))
    }

    @Test func hostnameChangesInPlaceAndHandEditsAreRepaired() throws {
        let box = try Sandbox("hostname")
        defer { box.close() }
        try box.write(Self.spec(extra: "    hostname: first"))
        try box.apply()
        let pid = try #require(try box.pid(of: "app"))
        #expect(try box.exec("app", "hostname").stdout == "first\n")
        try box.write(Self.spec(extra: "    hostname: second"))
        let plan = try box.plan()
        #expect(plan.stdout.contains("hostname: first -> second"))
        try box.apply()
        #expect(try box.pid(of: "app") == pid)
        #expect(try box.exec("app", "hostname").stdout == "second\n")
        try ProcFS.setHostname("intruder", of: try ProcessIdentity.read(pid: pid))
        let drift = try box.plan()
        #expect(drift.stdout.contains("hostname: intruder -> second  # drift"))
        try box.apply()
        #expect(try box.exec("app", "hostname").stdout == "second\n")
    }

    @Test func aDeviceNodeMadeInsideCannotBeOpened() throws {
        let box = try Sandbox("mknod")
        defer { box.close() }
        try box.write(Self.spec(extra: "    mounts: [{type: tmpfs, target: /scratch}]"))
        try box.apply()
        // CAP_MKNOD is in the default set (as in Docker); without a devices cgroup the
        // node must be useless: every writable mount is nodev.
        let disk = LimitsTests.anyDisk() ?? (1, 3)
        for dir in ["/", "/dev/", "/scratch/", "/tmp/"] {
            let node = "\(dir)disk-\(disk.major)-\(disk.minor)"
            let made = try box.exec("app", "mknod", node, "b", "\(disk.major)", "\(disk.minor)")
            #expect(made.status == 0, "mknod \(node): \(made.stderr)")
            let read = try box.exec("app", "head", "-c", "1", node)
            #expect(read.status != 0, "\(node) could be opened")
            #expect(read.stderr.contains("Permission denied"), "\(node): \(read.stderr)")
        }
        // The standard nodes still work.
        #expect(try box.exec("app", "head", "-c", "4", "/dev/zero").stdout.utf8.count == 4)
    }

    /// Every file under the state directory with its content, and the project's cgroup files.
    func snapshot(_ box: Sandbox) throws -> [String: String] {
        var out: [String: String] = [:]
        let fm = FileManager.default
        if let files = fm.enumerator(atPath: box.stateDirectory) {
            for case let file as String in files where file.hasSuffix(".json") || file.hasSuffix("lock") {
                out["state/" + file] = try? String(contentsOfFile: "\(box.stateDirectory)/\(file)", encoding: .utf8)
            }
        }
        let driver = try box.cgroups
        out["limits"] = "\(try driver.limits(of: box.cgroup("app")))"
        out["children"] = "\(try driver.children(of: "berth/\(box.project)"))"
        return out
    }
}
