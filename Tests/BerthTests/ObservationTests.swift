import Berth
import BerthKernel
import Foundation
import Testing

/// An observation that fails is an error of the plan, never a finding: a netlink
/// read that fails is not "the veth is missing", a corrupt exit record is not
/// "berth init died".
@Suite(.enabled(if: geteuid() == 0, "needs root: containers and bridges"))
struct ObservationTests {
    @Test func aFailingNetlinkReadIsAnErrorNotMissingVethDrift() throws {
        let box = try Sandbox("obs-netlink")
        defer { box.close() }
        let net = try box.subnet()
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(net.subnet)}
            containers:
              web:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
                networks: {front: {}}
            """)
        try box.apply()
        let pid = try #require(try box.runningPID("web"))
        let plan = try box.run(["plan", "-f", box.specPath, "--detailed-exitcode"],
                               environment: [Failpoint.variable: "observe.netlink:error"])
        #expect(plan.status == 1, "\(plan.stdout)")
        #expect(plan.stderr.contains("failpoint(observe.netlink): Input/output error"), "\(plan.stderr)")
        #expect(!plan.stdout.contains("drift") && !plan.stdout.contains("will be"), "\(plan.stdout)")
        // apply does not "repair" a healthy container it could not see.
        let apply = try box.run(["apply", "-f", box.specPath], environment: [Failpoint.variable: "observe.netlink:error"])
        #expect(apply.status == 1)
        #expect(try box.runningPID("web") == pid)
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test func aCorruptExitRecordIsAnErrorNotADeadInit() throws {
        let box = try Sandbox("obs-exit")
        defer { box.close() }
        try box.write("""
            version: 1
            containers:
              once:
                rootfs: ./rootfs
                command: [/bin/true]
                restart: never
            """)
        try box.apply()
        #expect(try eventually { try box.container("once")?["state"] as? String == "exited" })
        let path = "\(box.stateDirectory)/\(box.project)/containers/once/exit.json"
        try Data("{\"status\": ".utf8).write(to: URL(fileURLWithPath: path))
        let plan = try box.plan()
        #expect(plan.status == 1, "\(plan.stdout)")
        #expect(plan.stderr.contains("read(\(path)): not a valid exit record"), "\(plan.stderr)")
        #expect(!plan.stdout.contains("berth init gone"), "\(plan.stdout)")
    }
}
