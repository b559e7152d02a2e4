import BerthKernel
import Foundation
import Testing

/// What `berth status` tells of a container beyond its state: networks and addresses,
/// an OOM kill named as such, and how berth stopped it.
@Suite("berth status", .enabled(if: geteuid() == 0, "needs root"))
struct StatusTests {
    /// The addresses on the container's interface in each network, as the kernel has them,
    /// in the JSON and in the table.
    @Test func networksAndAddresses() throws {
        let box = try Sandbox("status-net")
        defer { box.close() }
        let front = try box.subnet(0), back = try box.subnet(1)
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(front.subnet)}
              back: {subnet: \(back.subnet)}
            containers:
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                networks:
                  front: {ip: \(front.prefix).10}
                  back: {ip: \(back.prefix).11}
            """)
        try box.apply()
        let web = try #require(try box.container("web"))
        let networks = try #require(web["networks"] as? [[String: Any]], "\(web)")
        #expect(networks.map { $0["network"] as? String } == ["back", "front"])
        #expect(networks.first { $0["network"] as? String == "front" }?["addresses"] as? [String] == ["\(front.prefix).10/24"])
        #expect(networks.first { $0["network"] as? String == "back" }?["addresses"] as? [String] == ["\(back.prefix).11/24"])
        #expect(networks.allSatisfy { ($0["bridge"] as? String)?.isEmpty == false }, "\(networks)")
        let table = try box.run("status", "-p", box.project).stdout
        #expect(table.contains("back=\(back.prefix).11/24 front=\(front.prefix).10/24"), "\(table)")
    }

    /// A command that allocates beyond its memory limit is killed by the kernel's OOM killer;
    /// status says so (not only "killed by SIGKILL"), counting the kill of this run.
    @Test func anOOMKillIsNamed() throws {
        let box = try Sandbox("status-oom")
        defer { box.close() }
        // dd's 256 MiB buffer, filled from /dev/zero, in a cgroup of 64 MiB without swap: dd
        // outgrows berth init's mapped binary, so the OOM killer picks it (even where init's
        // score cannot be lowered).
        try box.write("""
            version: 1
            containers:
              hog:
                rootfs: ./rootfs
                command: [dd, "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]
                restart: never
                resources: {memory: 64Mi, memorySwap: 0}
              calm:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                resources: {memory: 16Mi}
            """)
        try box.apply()
        #expect(try eventually(timeout: 20) { try box.container("hog")?["state"] as? String == "exited" })
        let hog = try #require(try box.container("hog"))
        let exit = try #require(hog["lastExit"] as? [String: Any], "\(hog)")
        #expect(exit["signal"] as? Int == 9 && exit["oomKilled"] as? Bool == true, "\(hog)")
        #expect((hog["oomKills"] as? Int ?? 0) >= 1 && hog["oomKilled"] as? Bool == true, "\(hog)")
        let calm = try #require(try box.container("calm"))
        #expect(calm["oomKills"] as? Int == 0 && calm["oomKilled"] as? Bool == false && calm["lastExit"] == nil, "\(calm)")
        let table = try box.run("status", "-p", box.project).stdout
        #expect(table.contains("exited (OOM killed)") && table.contains("killed by the OOM killer (SIGKILL)"), "\(table)")
    }

    /// Replace and destroy stop with stopSignal, then SIGKILL after stopTimeout: whether
    /// the container stopped in time or was killed is in the apply output, in status
    /// (for the replacement) and in the log of the run that ended.
    @Test func stopOutcomeInTimeOrKilled() throws {
        let box = try Sandbox("status-stop")
        defer { box.close() }
        func spec(_ seconds: String) -> String {
            """
            version: 1
            containers:
              stubborn:
                rootfs: ./rootfs
                command: [sh, -c, "trap '' TERM; echo up; sleep \(seconds) & wait; sleep \(seconds)"]
                stopTimeout: 1s
              polite:
                rootfs: ./rootfs
                command: [sleep, "\(seconds)"]
                stopTimeout: 30s
            """
        }
        try box.write(spec("1000"))
        try box.apply()
        #expect(try eventually { try box.run("logs", "-p", box.project, "stubborn").stdout.contains("up") })
        try box.write(spec("1001"))
        let replaced = try box.apply().stdout
        #expect(replaced.contains("stubborn: replaced") && replaced.contains("killed with SIGKILL after stopTimeout 1s"),
                "\(replaced)")
        #expect(replaced.contains("polite: replaced") && replaced.contains("stopped in time by SIGTERM"), "\(replaced)")
        let stubborn = try #require(try box.container("stubborn")?["lastStop"] as? [String: Any])
        #expect(stubborn["outcome"] as? String == "killed" && stubborn["reason"] as? String == "replace", "\(stubborn)")
        let polite = try #require(try box.container("polite")?["lastStop"] as? [String: Any])
        #expect(polite["outcome"] as? String == "stopped-in-time" && polite["signal"] as? String == "SIGTERM", "\(polite)")
        #expect((polite["seconds"] as? Double ?? 99) < 30, "\(polite)")
        let previous = try box.run("logs", "-p", box.project, "--previous", "stubborn").stdout
        #expect(previous.contains("berth: replace: killed with SIGKILL after stopTimeout 1s"), "\(previous)")
        let table = try box.run("status", "-p", box.project).stdout
        #expect(table.contains("stopped in time by SIGTERM"), "\(table)")

        let destroyed = try box.run("destroy", "-f", box.specPath)
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        #expect(destroyed.stdout.contains("polite: destroyed (stopped in time by SIGTERM"), "\(destroyed.stdout)")
        #expect(destroyed.stdout.contains("stubborn: destroyed (killed with SIGKILL after stopTimeout 1s"), "\(destroyed.stdout)")
    }
}
