import Foundation
import Glibc
import Testing
@testable import BerthKernel

/// An initramfs root (as in the cgroup v2 VM of `make test-v2`) refuses pivot_root;
/// berth init then moves the rootfs over / and chroots. Forced here on a normal root.
@Suite("Container runtime: the pivot_root fallback", .enabled(if: geteuid() == 0, "needs root"))
struct RuntimeMoveRootTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test func movedRootIsAsIsolatedAsAPivotedOne() throws {
        let sandbox = try ContainerSandbox("move-root")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/sh", "-c", """
            awk '$5 == "/" { print "root=" $4 }' /proc/self/mountinfo
            cat \(sandbox.outsideMarker) >/dev/null 2>&1 && echo marker=reachable || echo marker=unreachable
            cd /; cd ../../..; echo up=$(ls | tr '\\n' ' ')
            touch /x 2>/dev/null && echo root_write=ok || echo root_write=refused
            echo kcore_mounts=$(awk '$5 ~ /^\\/proc\\/(keys|timer_list)$/' /proc/self/mountinfo | wc -l)
            echo ready=1
            exec sleep 1000
            """])
        config.readOnlyRootfs = true
        let id = try ContainerRuntime.start(config, stateDir: state, executable: ContainerSandbox.berthInit, moveRoot: true) { _ in }
        sandbox.track(id)
        #expect(poll(timeout: .seconds(10)) { sandbox.log(state).contains("ready=1") })
        let log = sandbox.log(state)
        #expect(log.value(of: "root") == sandbox.rootfs, "\(log)")
        #expect(log.value(of: "marker") == "unreachable", "\(log)")
        #expect(log.value(of: "up") == "bin dev etc proc root sys tmp var", "\(log)")
        #expect(log.value(of: "root_write") == "refused", "\(log)")
        #expect(log.value(of: "kcore_mounts") == "2", "\(log)")

        // exec finds the container's root through its init, not the mount namespace's root.
        let out = sandbox.base + "/exec.out"
        let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(fd) }
        let status = try ContainerRuntime.exec(
            into: id, ExecConfig(argv: ["sh", "-c", "echo up=$(cd /../..; ls | tr '\\n' ' '); cat \(sandbox.outsideMarker) 2>/dev/null || echo marker=unreachable"], like: config),
            executable: ContainerSandbox.berthInit, stdin: -1, stdout: fd, stderr: fd)
        let output = try String(contentsOfFile: out, encoding: .utf8)
        #expect(status == .exited(0), "\(output)")
        #expect(output.value(of: "up") == "bin dev etc proc root sys tmp var", "\(output)")
        #expect(output.value(of: "marker") == "unreachable", "\(output)")
    }
}
