import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("Healthcheck probes inside a container", .enabled(if: geteuid() == 0, "needs root"))
struct HealthProbeTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    /// Host pids whose command line is exactly `argv`.
    static func processes(_ argv: [String]) -> [Int32] {
        let wanted = argv.joined(separator: "\0") + "\0"
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter {
            (try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8)) == wanted
        }
    }

    @Test func aProbeReportsStatusAndOutput() throws {
        let sandbox = try ContainerSandbox("probe-status")
        defer { sandbox.cleanup() }
        let config = sandbox.config(["/bin/sleep", "1000"])
        let id = try sandbox.start(config, stateDir: try sandbox.stateDir())
        let result = try ContainerRuntime.probe(
            into: id, ExecConfig(argv: ["sh", "-c", "echo checked $(hostname); echo oops >&2; exit 3"], like: config),
            executable: ContainerSandbox.berthInit, timeout: .seconds(10))
        #expect(result.status == .exited(3))
        #expect(result.output == "checked berth-test\noops\n")
        let long = try ContainerRuntime.probe(
            into: id, ExecConfig(argv: ["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"], like: config),
            executable: ContainerSandbox.berthInit, timeout: .seconds(10))
        #expect(long.passed && long.output.utf8.count == ContainerRuntime.probeOutputLimit)
    }

    @Test func aHangingProbeIsKilledAtItsTimeoutWithEverythingItStarted() throws {
        let sandbox = try ContainerSandbox("probe-timeout")
        defer { sandbox.cleanup() }
        let config = sandbox.config(["/bin/sleep", "1000"])
        let id = try sandbox.start(config, stateDir: try sandbox.stateDir())
        let marker = "\(UInt32.random(in: 100_000...999_999))"
        // A shell that starts a background child and then hangs: both must go.
        let result = try ContainerRuntime.probe(
            into: id, ExecConfig(argv: ["sh", "-c", "sleep \(marker) & sleep \(marker); true"], like: config),
            executable: ContainerSandbox.berthInit, timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(poll(timeout: .seconds(5)) { Self.processes(["sleep", marker]).isEmpty },
                "left behind: \(Self.processes(["sleep", marker]))")
        #expect(id.isAlive, "the container itself must stay")
    }
}
