@testable import Berth
import BerthKernel
import Foundation
import Testing

/// The reconciler of a networked project, in-process so that the test sees what each
/// pass observed: rtnetlink and pidfd events make only the container they concern
/// stale, and a pass reads that one afresh and takes the others from memory.
@Suite(.serialized, .enabled(if: geteuid() == 0, "needs root: containers, bridges, veths"))
struct ReconcileNetworkEventsTests {
    /// Takes the reconciler's events until `condition` holds, or `timeout` passes.
    func take(_ reconciler: Reconciler, timeout: Double = 5, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition(), Date() < deadline {
            _ = reconciler.handle(reconciler.events.wait(timeout: deadline.timeIntervalSinceNow))
        }
        return condition()
    }

    @Test func aKilledContainerAndADeletedVethAreEachObservedAloneAndRepaired() throws {
        let box = try Sandbox("rc-netev")
        defer { box.close() }
        let net = try box.subnet()
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(net.subnet)}
            containers:
              a:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
                networks: {front: {}}
              b:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
                networks: {front: {}}
            """)
        try box.apply()
        let reconciler = try box.reconciler()

        let cache = reconciler.cache
        reconciler.pass()
        #expect(cache.completeObservations == 1)
        #expect(reconciler.events.watchesNetworks)
        let a = try #require(try box.runningPID("a"))
        let b = try #require(try box.runningPID("b"))

        // Nothing happened: the next pass reads nothing afresh.
        reconciler.pass()
        #expect(cache.completeObservations == 1)
        #expect(cache.freshReads.isEmpty, "\(cache.freshReads)")

        // a's init dies: its pidfd says so, and a alone is observed and started again.
        kill(a, SIGKILL)
        #expect(take(reconciler) { cache.stale.contains("a") })
        #expect(!cache.stale.contains("b"))
        reconciler.pass()
        #expect(cache.completeObservations == 1)
        #expect(cache.freshReads["a", default: 0] >= 1)
        #expect(cache.freshReads["b"] == nil, "\(cache.freshReads)")
        let again = try #require(try box.runningPID("a"))
        #expect(again != a)
        #expect(try box.runningPID("b") == b)

        // b's veth is deleted on the host: the link event names it, b alone is stale and repaired.
        let veth = NetworkNames.hostVeth(project: box.project, container: "b", network: "front")
        let host = try RouteNetlink()
        _ = take(reconciler, timeout: 0.5) { false }  // what the restart raised
        reconciler.pass()
        try host.deleteLink(.name(veth))
        #expect(take(reconciler) { cache.stale.contains("b") })
        #expect(!cache.stale.contains("a"))
        reconciler.pass()
        #expect(cache.completeObservations == 1)
        #expect(cache.freshReads["b", default: 0] >= 1)
        #expect(try host.link(.name(veth)) != nil)
        #expect(try box.runningPID("b") == b)
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    /// Hostnames are read again only after one was set: a pass with no such event reads
    /// none of the remembered containers' hostnames; one set inside a container wakes the
    /// reconciler (POLLPRI on /proc/sys/kernel/hostname), which reads them, and the pass
    /// repairs it.
    @Test func hostnamesAreReadAgainOnlyAfterOneWasSet() throws {
        let box = try Sandbox("rc-uts")
        defer { box.close() }
        try box.write("""
            version: 1
            containers:
              a:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
            """)
        try box.apply()
        let reconciler = try box.reconciler()
        let cache = reconciler.cache
        reconciler.pass()
        reconciler.pass()
        #expect(cache.completeObservations == 1)
        #expect(cache.hostnameReads == 0, "a pass at rest read the hostnames")

        let id = try ProcessIdentity.read(pid: try #require(try box.runningPID("a")))
        try ProcFS.setHostname("elsewhere", of: id)
        // The event wakes it; it reads the hostnames and finds a's changed (another test's
        // hostname, read meanwhile, changes none of this project's).
        #expect(take(reconciler) { cache.containers["a"]?.hostname == "elsewhere" }, "no event for the hostname set")
        #expect(cache.hostnameReads >= 1)
        reconciler.pass()
        #expect(cache.completeObservations == 1)
        #expect(try ProcFS.hostname(of: id) == "a", "not repaired by the pass")

        // Where hostnames being set cannot be heard, every pass reads them, and repairs.
        let deaf = try box.reconciler(watchingHostnames: false)
        deaf.pass()
        deaf.pass()
        #expect(deaf.cache.hostnameReads == 1, "the second pass did not read the hostnames")
        try ProcFS.setHostname("elsewhere", of: id)
        deaf.pass()
        #expect(try ProcFS.hostname(of: id) == "a", "not repaired by a pass of a reconciler without the event")
    }
}
