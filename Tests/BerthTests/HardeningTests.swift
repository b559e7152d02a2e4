import BerthKernel
import Foundation
import Testing

@Suite("Hardening fields through berth apply", .enabled(if: geteuid() == 0, "needs root"))
struct HardeningTests {
    static func spec(seccomp: String = "default", extra: String = "") -> String {
        """
        version: 1
        containers:
          app:
            rootfs: ./rootfs
            command: [/bin/sleep, "1000"]
            stopTimeout: 2s
            security: {seccomp: \(seccomp)}
            devices: [{path: /dev/fuse, access: rw}]
            sysctls: {net.ipv4.ip_unprivileged_port_start: "1000", kernel.msgmax: "4096"}
            ulimits: {nofile: {soft: 200, hard: 400}}
        \(extra)
        """
    }

    func value(_ r: Sandbox.Result, _ key: String) -> String? {
        r.stdout.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    @Test func fieldsReachTheContainer() throws {
        let box = try Sandbox("hardening")
        defer { box.close() }
        try box.write(Self.spec())
        try box.apply()
        let r = try box.exec("app", "/bin/sh", "-c", """
            echo seccomp=$(grep Seccomp: /proc/self/status | tr -d ' \\t' | cut -d: -f2)
            echo fuse=$(test -c /dev/fuse && echo char)
            echo ports=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
            echo msgmax=$(cat /proc/sys/kernel/msgmax)
            echo nofile=$(ulimit -Sn):$(ulimit -Hn)
            echo nnp=$(grep NoNewPrivs /proc/self/status | tr -d ' \\t' | cut -d: -f2)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(value(r, "seccomp") == "2", "\(r.stdout)")
        #expect(value(r, "fuse") == "char")
        #expect(value(r, "ports") == "1000")
        #expect(value(r, "msgmax") == "4096")
        #expect(value(r, "nofile") == "200:400")
        #expect(value(r, "nnp") == "1")
        // The container's own command, not only exec: its limits and filter (PID 2 under berth init).
        let status = try String(contentsOfFile: "/proc/\(try #require(try box.pid(of: "app")))/status", encoding: .utf8)
        #expect(status.contains("CapEff:\t0000000000000000"), "berth init keeps no capability")
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test func changingTheProfileReplacesTheContainer() throws {
        let box = try Sandbox("seccomp-plan")
        defer { box.close() }
        try box.write(Self.spec())
        try box.apply()
        let profile = box.directory + "/deny-mkdir.json"
        try #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#
            .write(toFile: profile, atomically: true, encoding: .utf8)
        try box.write(Self.spec(seccomp: "./deny-mkdir.json"))
        let plan = try box.plan()
        #expect(plan.stdout.contains("security.seccomp"), "\(plan.stdout)")
        #expect(plan.stdout.contains("replace"), "\(plan.stdout)")
        try box.apply()
        let r = try box.exec("app", "/bin/mkdir", "/tmp/x")
        #expect(r.status != 0)
        #expect(r.stderr.contains("Operation not permitted"), "\(r.stderr)")
        // A new version of the same file is a change too.
        try #"{"defaultAction": "SCMP_ACT_ALLOW"}"#.write(toFile: profile, atomically: true, encoding: .utf8)
        #expect(try box.plan("--detailed-exitcode").status == 2)
    }

    @Test func raisingAHardLimitIsRefusedBeforeAnythingStarts() throws {
        guard !Capabilities.effectiveContains("CAP_SYS_RESOURCE"), let now = ResourceLimit.current("nofile"),
              now.hard < ResourceLimit.unlimited / 2 else { return }
        let box = try Sandbox("ulimit-raise")
        defer { box.close() }
        try box.write(Self.spec().replacingOccurrences(of: "{soft: 200, hard: 400}", with: "\(now.hard * 2)"))
        let r = try box.run("apply", "-f", box.specPath)
        #expect(r.status != 0)
        #expect((r.stderr + r.stdout).contains("containers.app.ulimits.nofile: raising the hard limit"), "\(r.stderr)")
        #expect(try box.status().isEmpty)
    }
}
