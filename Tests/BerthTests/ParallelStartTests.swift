import Berth
import BerthKernel
import Foundation
import Testing

/// Containers with no order between them start side by side (at most `parallelStarts`),
/// and a dependent still starts after what it depends on.
@Suite("Parallel starts", .enabled(if: geteuid() == 0, "needs root"))
struct ParallelStartTests {
    /// Each completed start reports from its own thread; the report of every one of a, b
    /// and c waits until all three have started: only starts that run at once get there.
    final class Barrier: @unchecked Sendable {
        private let condition = NSCondition()
        private var arrived: Set<String> = []
        private(set) var order: [String] = []
        private(set) var metAll = true

        func arrive(_ name: String, waitFor names: Set<String>) {
            condition.lock()
            defer { condition.unlock() }
            order.append(name)
            arrived.insert(name)
            condition.broadcast()
            guard names.contains(name) else { return }
            let deadline = Date().addingTimeInterval(30)
            while !names.isSubset(of: arrived) {
                if !condition.wait(until: deadline) { metAll = false; return }
            }
        }
    }

    @Test func independentContainersStartTogetherAndDependentsAfter() throws {
        let box = try Sandbox("parallel")
        defer { box.close() }
        var text = "version: 1\ncontainers:\n"
        for name in ["a", "b", "c"] {
            text += "  \(name):\n    rootfs: ./rootfs\n    command: [sleep, \"1000\"]\n"
        }
        text += "  z:\n    rootfs: ./rootfs\n    command: [sleep, \"1000\"]\n    dependsOn: [a]\n"
        try box.write(text)
        let spec = try SpecLoader.load(text: text, fileName: "\(box.project).yaml", baseDirectory: box.directory).get()
        let engine = try Engine.host(stateDirectory: box.stateDirectory, executable: box.berthInit)
        let lock = try engine.lock(project: spec.project, command: "apply", timeout: 10)
        defer { lock.release() }
        let (plan, _, records) = try engine.plan(spec)
        let barrier = Barrier()
        let report = try engine.apply(spec, plan: plan, records: records, parallelStarts: 4) { step in
            barrier.arrive(step.action.object.name, waitFor: ["a", "b", "c"])
        }
        #expect(barrier.metAll, "a, b and c did not start at the same time: \(barrier.order)")
        #expect(barrier.order.last == "z" && Set(barrier.order.prefix(3)) == ["a", "b", "c"], "\(barrier.order)")
        #expect(report.done.map(\.object.name) == ["a", "b", "c", "z"])
        for name in ["a", "b", "c", "z"] {
            #expect(try box.container(name)?["state"] as? String == "running", "\(name)")
        }
        let started = try StateStore(root: box.stateDirectory).records(box.project).containers
        #expect(try #require(started["z"]?.startedAt) >= (try #require(started["a"]?.startedAt)))
    }

    /// One start failing among several: the others end their starts, the apply reports the
    /// failure with what was done, nothing is left half-made, and the next apply continues.
    @Test func aFailureAmongParallelStartsIsReportedWithWhatWasDone() throws {
        let box = try Sandbox("parallel-fail")
        defer { box.close() }
        func spec(_ badCommand: String) -> String {
            var text = "version: 1\ncontainers:\n"
            for name in ["a", "b", "c"] {
                text += "  \(name):\n    rootfs: ./rootfs\n    command: [sleep, \"1000\"]\n"
            }
            return text + "  d:\n    rootfs: ./rootfs\n    command: [\(badCommand), \"1000\"]\n"
        }
        try box.write(spec("sleep"))
        // Preflight finds a missing command; a command that exists but cannot run is found by exec.
        try FileManager.default.createDirectory(atPath: box.rootfs + "/bin/notacommand", withIntermediateDirectories: true)
        try box.write(spec("/bin/notacommand"))
        let r = try box.run("apply", "-f", box.specPath, "--parallel", "4")
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("container d: create failed"), "\(r.stderr)")
        #expect(r.stderr.contains("Done before the failure: create a, create b, create c."), "\(r.stderr)")
        let cgroups = try box.cgroups.children(of: "berth/\(box.project)")
        #expect(Set(cgroups) == ["a", "b", "c"], "the failed start left its cgroup: \(cgroups)")
        try box.write(spec("sleep"))
        let again = try box.apply()
        #expect(again.stdout.contains("container d: created"), "\(again.stdout)")
    }

    /// Several starts of one batch failing: every failure is named, each at the place of its
    /// container in the spec, in plan order; each undid itself, and the next apply continues.
    @Test func everyFailureOfABatchIsNamedAtItsPlace() throws {
        let box = try Sandbox("parallel-fails")
        defer { box.close() }
        func spec(_ badCommand: String) -> String {
            var text = "version: 1\ncontainers:\n"
            for name in ["a", "b", "c", "d"] {
                let command = name == "a" || name == "b" ? "sleep" : badCommand
                text += "  \(name):\n    rootfs: ./rootfs\n    command: [\(command), \"1000\"]\n"
            }
            return text
        }
        // A command that exists but cannot run: preflight lets it through, exec refuses it.
        try FileManager.default.createDirectory(atPath: box.rootfs + "/bin/notacommand", withIntermediateDirectories: true)
        let text = spec("/bin/notacommand")
        try box.write(text)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        func place(_ name: String) throws -> String {
            let line = try #require(lines.firstIndex { $0 == "  \(name):" }) + 1
            return "\(box.specPath):\(line):3: container \(name): create failed"
        }
        let r = try box.run("apply", "-f", box.specPath, "--parallel", "4")
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        let c = try place("c"), d = try place("d")
        #expect(r.stderr.contains(c), "\(r.stderr)")
        #expect(r.stderr.contains(d), "\(r.stderr)")
        if let ci = r.stderr.range(of: c), let di = r.stderr.range(of: d) { #expect(ci.lowerBound < di.lowerBound, "plan order") }
        #expect(r.stderr.contains("Done before the failure: create a, create b."), "\(r.stderr)")
        #expect(r.stderr.contains("Nothing was left half-made"), "\(r.stderr)")
        let cgroups = try box.cgroups.children(of: "berth/\(box.project)")
        #expect(Set(cgroups) == ["a", "b"], "a failed start left its cgroup: \(cgroups)")
        let records = try StateStore(root: box.stateDirectory).records(box.project).containers
        // Records are written once a container runs: the failed ones have none.
        #expect(records["c"] == nil && records["d"] == nil, "\(records)")
        try box.write(spec("sleep"))
        let again = try box.apply()
        #expect(again.stdout.contains("container c: created") && again.stdout.contains("container d: created"), "\(again.stdout)")
    }
}
