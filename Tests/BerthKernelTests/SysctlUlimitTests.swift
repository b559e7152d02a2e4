import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("sysctls and ulimits of a container", .enabled(if: geteuid() == 0, "needs root"))
struct SysctlUlimitTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    func hostValue(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func sysctlsAreWrittenInsideTheNamespacesOnly() throws {
        let sandbox = try ContainerSandbox("sysctls")
        defer { sandbox.cleanup() }
        let portsBefore = hostValue("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        let shmBefore = hostValue("/proc/sys/kernel/shmmni")
        var config = sandbox.config(["/bin/sh", "-c", """
            echo ports=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
            echo shmmni=$(cat /proc/sys/kernel/shmmni)
            """])
        config.sysctls = [KernelParameter(name: "net.ipv4.ip_unprivileged_port_start", value: "99"),
                          KernelParameter(name: "kernel.shmmni", value: "1234")]
        let (log, exit) = try sandbox.run(config)
        #expect(exit?.status == .exited(0), "\(log)")
        #expect(log.value(of: "ports") == "99", "\(log)")
        #expect(log.value(of: "shmmni") == "1234", "\(log)")
        #expect(hostValue("/proc/sys/net/ipv4/ip_unprivileged_port_start") == portsBefore)
        #expect(hostValue("/proc/sys/kernel/shmmni") == shmBefore)
    }

    @Test func aBadSysctlFailsTheStartWithItsName() throws {
        let sandbox = try ContainerSandbox("sysctl-bad")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/true"])
        config.sysctls = [KernelParameter(name: "net.ipv4.no_such_knob", value: "1")]
        do {
            _ = try sandbox.start(config, stateDir: try sandbox.stateDir())
            Issue.record("started with an unknown sysctl")
        } catch {
            #expect("\(error)".contains("net.ipv4.no_such_knob"), "\(error)")
        }
    }

    @Test func ulimitsLowerTheCommandsLimitsAndLeaveTheOthers() throws {
        let sandbox = try ContainerSandbox("ulimits")
        defer { sandbox.cleanup() }
        var config = sandbox.config(["/bin/sh", "-c", """
            echo nofile=$(ulimit -Sn):$(ulimit -Hn)
            echo core=$(ulimit -Sc):$(ulimit -Hc)
            echo nproc=$(ulimit -Hu)
            """])
        config.rlimits = [ResourceLimit(name: "nofile", soft: 100, hard: 200),
                          ResourceLimit(name: "core", soft: 0, hard: 0)]
        let (log, exit) = try sandbox.run(config)
        #expect(exit?.status == .exited(0), "\(log)")
        #expect(log.value(of: "nofile") == "100:200", "\(log)")
        #expect(log.value(of: "core") == "0:0", "\(log)")
        let nproc = try #require(ResourceLimit.current("nproc"))
        #expect(log.value(of: "nproc") == (nproc.hard == ResourceLimit.unlimited ? "unlimited" : String(nproc.hard)), "\(log)")
    }

    @Test func raisingAHardLimitNeedsCapSysResource() throws {
        let sandbox = try ContainerSandbox("ulimit-raise")
        defer { sandbox.cleanup() }
        let now = try #require(ResourceLimit.current("nofile"))
        try #require(now.hard < ResourceLimit.unlimited / 2)
        var config = sandbox.config(["/bin/true"])
        config.rlimits = [ResourceLimit(name: "nofile", soft: now.hard * 2, hard: now.hard * 2)]
        if Capabilities.effectiveContains("CAP_SYS_RESOURCE") {
            _ = try sandbox.run(config)
        } else {
            #expect(config.rlimits[0].problem?.contains("CAP_SYS_RESOURCE") == true)
            do {
                _ = try sandbox.start(config, stateDir: try sandbox.stateDir())
                Issue.record("raised nofile without CAP_SYS_RESOURCE")
            } catch let error as KernelError {
                #expect(error.description.contains("needs CAP_SYS_RESOURCE"), "\(error)")
            }
        }
    }
}
