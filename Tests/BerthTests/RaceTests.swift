import Berth
import BerthKernel
import Foundation
import Testing

/// Two berths at once on one project: two applies racing (one of them killed at each
/// failpoint), and a destroy racing a reconciler that is busy restarting containers. The
/// lock decides who goes first; whoever goes second must finish the job, and nothing leaks
/// or is handed out twice.
@Suite(.enabled(if: geteuid() == 0, "needs root: containers, bridges, veths"))
struct RaceTests {
    /// Runs the closures at the same time, each on its own thread, and returns their results.
    static func together<T>(_ bodies: [() throws -> T]) throws -> [T] {
        // Each closure runs on one thread only, and the results are read after all are done.
        let work = Unchecked(bodies)
        let results = Results<T>(count: bodies.count)
        DispatchQueue.concurrentPerform(iterations: bodies.count) { i in
            results.set(i, Result { try work.value[i]() })
        }
        return try results.values.map { try $0!.get() }
    }

    struct Unchecked<T>: @unchecked Sendable {
        let value: T
        init(_ value: T) { self.value = value }
    }

    final class Results<T>: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var values: [Result<T, any Error>?]
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ value: Result<T, any Error>) {
            lock.lock()
            values[i] = value
            lock.unlock()
        }
    }

    /// The failpoint walk's edit (create, update, re-address, replace, destroy, a network
    /// made and one removed) by two applies started together; one is killed at `point`
    /// when it gets there. The other must leave the project converged, with no third apply.
    @Test(arguments: FailpointTests.points)
    func twoAppliesRaceAndOneIsKilledAtEveryFailpoint(point: Failpoint) throws {
        let w = try FailpointTests().world("race")
        defer { w.box.close() }
        let box = w.box
        let context = "race \(point.rawValue)"
        try box.write(w.before)
        try box.apply()
        let keep = try box.runningPID("keep")
        #expect(keep != nil)

        try box.write(w.after)
        let armed = (point.needs.map { ["\($0.rawValue):error"] } ?? []) + ["\(point.rawValue):kill"]
        let results: [Sandbox.Result] = try Self.together([
            { try box.run(["apply", "-f", box.specPath], environment: [Failpoint.variable: armed.joined(separator: ",")]) },
            { try box.run(["apply", "-f", box.specPath]) },
        ])
        let (hurt, racer) = (results[0], results[1])
        // Killed there, or it came second and found nothing left to do.
        #expect(hurt.signal == SIGKILL || hurt.status == 0, "\(context): the armed apply: \(hurt.status) \(hurt.stdout)\(hurt.stderr)")
        #expect(racer.status == 0 && racer.signal == nil, "\(context): the racer: \(racer.stdout)\(racer.stderr)")
        // No third apply: whichever came second finished the job.
        try FailpointTests.expectConverged(w, w.afterSpec, keepPID: keep, context: context)
        try FailpointTests.expectGone(w, context: context)
    }

    @Test func destroyRacingAReconcilerThatRestartsContainersLeavesNothing() throws {
        let box = try Sandbox("race-rec")
        defer { box.close() }
        let net = try box.subnet()
        let names = ["a", "b", "c"]
        try box.write("version: 1\nnetworks:\n  front: {subnet: \(net.subnet)}\ncontainers:\n" + names.map { name in
            "  \(name):\n    rootfs: ./rootfs\n    command: [/bin/sleep, \"1000\"]\n    stopTimeout: 1s\n"
                + "    networks: [front]\n"
        }.joined())
        let spec = try SpecLoader.load(path: box.specPath).get()
        let reconciler = try ReconcilerRun(box, interval: "1s")
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        #expect(try eventually(timeout: 20) { try names.allSatisfy { try box.runningPID($0) != nil } })
        // Every container dies at once: the reconciler wakes to start them again, and the
        // destroy starts in the middle of that.
        for name in names {
            if let pid = try box.runningPID(name) { kill(pid, SIGKILL) }
        }
        let r = try box.run("destroy", "-p", box.project)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("Stopped the reconciler of project \(box.project) (pid \(reconciler.pid))"), "\(r.stdout)")
        #expect(reconciler.waitExit(timeout: 20) == 0, "\(reconciler.log)")

        // Gone, and nothing can bring it back: the reconciler has exited.
        #expect(!FileManager.default.fileExists(atPath: "\(box.stateDirectory)/\(box.project)"))
        #expect(!((try? box.cgroups.exists("berth/\(box.project)")) ?? true))
        for name in names {
            let veth = NetworkNames.hostVeth(project: box.project, container: name, network: "front")
            #expect(try !FailpointTests.linkExists(veth), "veth \(veth) left")
        }
        #expect(try !FailpointTests.linkExists(spec.networks[0].bridge), "bridge left")
        #expect(!(try Firewall().rules()).contains { $0.hasPrefix("berth:\(box.project)/") }, "firewall rules left")
    }
}
