import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("seccomp: profiles, compiling, the filter in the container")
struct SeccompProfileTests {
    @Test func embeddedDefaultProfileIsTheRepositorysFile() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("profiles/seccomp/default.json")
        let bytes = try [UInt8](Data(contentsOf: file))
        #expect(SeccompProfile.defaultProfileBytes == bytes)
    }

    @Test func defaultProfileHasDockersShape() throws {
        let profile = try SeccompProfile.decode(SeccompProfile.defaultProfileBytes)
        #expect(profile.defaultAction == "SCMP_ACT_ERRNO")
        #expect(profile.defaultErrnoRet == 1)
        let rules = profile.syscalls ?? []
        let allowedAlways = Set(rules.filter { $0.action == "SCMP_ACT_ALLOW" && $0.args == nil && $0.includes == nil }
            .flatMap { $0.names ?? [] })
        for name in ["read", "write", "execve", "openat", "clone" /* only with args */] where name != "clone" {
            #expect(allowedAlways.contains(name), "\(name)")
        }
        for name in ["unshare", "mount", "keyctl", "add_key", "bpf", "open_by_handle_at", "ptrace", "clone3",
                     "personality", "socket", "kexec_load", "userfaultfd"] {
            #expect(!allowedAlways.contains(name), "\(name) must not be allowed unconditionally")
        }
        let clone3 = try #require(rules.first { $0.names == ["clone3"] })
        #expect(clone3.action == "SCMP_ACT_ERRNO" && clone3.errnoRet == 38)
    }

    @Test func capabilitiesChangeTheFilter() throws {
        let plain = try #require(try SeccompFilter.filter(for: .default, capabilities: ContainerConfig.defaultCapabilities))
        let admin = try #require(try SeccompFilter.filter(for: .default,
                                                          capabilities: ContainerConfig.defaultCapabilities + ["CAP_SYS_ADMIN"]))
        #expect(plain != admin)
        #expect(plain.instructionCount > 100)
        // Cached: the same set in another order is the same filter.
        let again = try SeccompFilter.filter(for: .default, capabilities: ContainerConfig.defaultCapabilities.reversed())
        #expect(again == plain)
        #expect(try SeccompFilter.filter(for: .unconfined, capabilities: []) == nil)
    }

    @Test(arguments: [
        (#"{"defaultAction": "SCMP_ACT_NOPE"}"#, "unknown action"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}"#, "unknown operator"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}"#, "syscalls[0]: missing \"action\""),
        (#"{"syscalls": []}"#, "missing \"defaultAction\""),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#, "unknown architecture"),
    ])
    func badProfilesAreErrors(_ json: String, _ message: String) throws {
        do {
            _ = try SeccompFilter.filter(for: .profile(json), capabilities: [])
            Issue.record("no error for \(json)")
        } catch let error as SeccompError {
            #expect(error.description.contains(message), "\(error)")
        }
    }
}

@Suite("seccomp: probes from inside containers", .enabled(if: geteuid() == 0, "needs root"))
struct SeccompProbeTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    static let probes = ["userns", "keyctl", "add_key", "bpf", "open_by_handle_at", "mount", "personality_query",
                         "personality_norandom", "vsock", "alg", "clone3", "ptrace_init", "release_agent", "mkdir",
                         "seccomp_mode"]

    func sandbox(_ name: String) throws -> ContainerSandbox {
        let sandbox = try ContainerSandbox(name)
        try HardeningProbe.install(into: sandbox.rootfs)
        return sandbox
    }

    @Test func defaultProfileAnswersAsDockers() throws {
        let sandbox = try sandbox("seccomp-default")
        defer { sandbox.cleanup() }
        let a = try HardeningProbe.run(sandbox, sandbox.config([]), Self.probes)
        #expect(a["seccomp_mode"] == "2")
        for denied in ["userns", "keyctl", "add_key", "bpf", "open_by_handle_at", "mount", "personality_norandom",
                       "vsock"] {
            #expect(a[denied] == "EPERM", "\(denied): \(a[denied] ?? "no answer")")
        }
        #expect(a["clone3"] == "ENOSYS")
        #expect(a["release_agent"] == "unshare:EPERM")
        // Allowed by the profile: the query form of personality, AF_ALG, mkdir.
        #expect(a["personality_query"] == "OK")
        #expect(a["alg"] == "OK")
        #expect(a["mkdir"] == "OK")
        // ptrace is allowed (kernel >= 4.8), but PID 1 is berth init: not dumpable, and the
        // command lacks CAP_SYS_PTRACE.
        #expect(a["ptrace_init"] == "EPERM")
    }

    @Test func unconfinedLetsTheSameCallsThrough() throws {
        let sandbox = try sandbox("seccomp-unconfined")
        defer { sandbox.cleanup() }
        var config = sandbox.config([])
        config.seccomp = .unconfined
        let a = try HardeningProbe.run(sandbox, config, Self.probes)
        #expect(a["seccomp_mode"] == "0")
        for allowed in ["userns", "keyctl", "add_key", "personality_norandom", "vsock", "alg", "clone3", "mkdir"] {
            #expect(a[allowed] == "OK", "\(allowed): \(a[allowed] ?? "no answer")")
        }
        // Without the filter bpf reaches the kernel, which rejects the all-zero attribute
        // (EINVAL, reported as OK) before it looks at capabilities; the missing capabilities
        // alone stop the other two.
        #expect(a["bpf"] == "OK")
        #expect(a["open_by_handle_at"] == "EPERM")
        #expect(a["mount"] == "EPERM")
    }

    @Test func capSysAdminOpensWhatDockerOpensWithIt() throws {
        let sandbox = try sandbox("seccomp-sysadmin")
        defer { sandbox.cleanup() }
        var config = sandbox.config([])
        config.capabilities += ["CAP_SYS_ADMIN"]
        let a = try HardeningProbe.run(sandbox, config, ["mount", "bpf", "clone3", "userns", "keyctl"])
        #expect(a["mount"] == "OK")
        #expect(a["bpf"] == "OK")
        #expect(a["clone3"] == "OK")
        #expect(a["userns"] == "OK")
        // keyctl stays refused whatever the capabilities (it is in no rule).
        #expect(a["keyctl"] == "EPERM")
    }

    @Test func customProfileDenyingMkdir() throws {
        let sandbox = try sandbox("seccomp-custom")
        defer { sandbox.cleanup() }
        var config = sandbox.config([])
        config.seccomp = .profile("""
            {"defaultAction": "SCMP_ACT_ALLOW",
             "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
            """)
        let a = try HardeningProbe.run(sandbox, config, ["mkdir", "keyctl", "seccomp_mode"])
        #expect(a["mkdir"] == "EPERM")
        #expect(a["keyctl"] == "OK")
        #expect(a["seccomp_mode"] == "2")
    }

    @Test func execGetsTheFilterToo() throws {
        let sandbox = try sandbox("seccomp-exec")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let id = try sandbox.start(sandbox.config(["/bin/sleep", "60"]), stateDir: state)
        let out = sandbox.base + "/exec.out"
        let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let status = try ContainerRuntime.exec(
            into: id, ExecConfig(argv: ["/bin/probe", "keyctl", "seccomp_mode"], env: ["PATH=/bin"]),
            executable: ContainerSandbox.berthInit, stdin: -1, stdout: fd, stderr: fd)
        #expect(status == .exited(0))
        let a = HardeningProbe.answers((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        #expect(a["keyctl"] == "EPERM")
        #expect(a["seccomp_mode"] == "2")
    }

    @Test func noNewPrivilegesOffStillInstallsTheFilter() throws {
        let sandbox = try sandbox("seccomp-nnp-off")
        defer { sandbox.cleanup() }
        var config = sandbox.config([])
        config.noNewPrivileges = false
        config.uid = 1000
        config.gid = 1000
        let a = try HardeningProbe.run(sandbox, config, ["keyctl", "seccomp_mode"])
        #expect(a["keyctl"] == "EPERM")
        #expect(a["seccomp_mode"] == "2")
    }
}
