import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("Container runtime: start", .enabled(if: geteuid() == 0, "needs root"))
struct RuntimeStartTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test func commandRunsAsChildOfBerthInit() throws {
        let sandbox = try ContainerSandbox("child-of-init")
        defer { sandbox.cleanup() }
        let script = """
            echo "cmdline=$(tr '\\0' ' ' < /proc/1/cmdline)"
            echo "comm=$(cat /proc/1/comm)"
            echo "self=$$ ppid=$PPID"
            echo "host=$(hostname)"
            """
        let (log, exit) = try sandbox.run(sandbox.config(["/bin/sh", "-c", script]))
        #expect(log.contains("cmdline=berth init \n"), "\(log)")
        #expect(log.contains("comm=berth-init\n"), "\(log)")
        #expect(log.contains("self=2 ppid=1\n"), "\(log)")
        #expect(log.contains("host=berth-test\n"), "\(log)")
        #expect(exit?.status == .exited(0))
    }
}
