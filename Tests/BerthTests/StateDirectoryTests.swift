import Foundation
import Testing

/// `--state-dir` as users type it: relative to where they stand. Containers bind-mount their
/// hosts and resolv.conf from it, and the kernel refuses a relative mount source, so a
/// relative state directory failed at the first container ("not an absolute path").
@Suite("state directory", .enabled(if: geteuid() == 0, "needs root"))
struct StateDirectoryTests {
    @Test func aRelativeStateDirectoryIsTheOneUnderTheWorkingDirectory() throws {
        let box = try Sandbox("state-relative")
        defer { box.close() }
        let front = try box.subnet(0)
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(front.subnet)}
            containers:
              web:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
                networks: {front: {}}
            """)
        // The sandbox's state directory is `<box>/state`: named from `<box>` as `state` and `./state`.
        let applied = try box.run(["apply", "-f", box.specPath, "--state-dir", "state"], in: box.directory)
        #expect(applied.status == 0, "\(applied.stderr)\(applied.stdout)")
        let status = try box.status()
        #expect(status.map { $0["state"] as? String } == ["running"], "\(status)")
        let plan = try box.run(["plan", "-f", box.specPath, "--state-dir", "./state"], in: box.directory)
        #expect(plan.status == 0 && plan.stdout.contains("No changes"), "\(plan.stdout)\(plan.stderr)")
        let destroyed = try box.run(["destroy", "-f", box.specPath, "--state-dir", "state"], in: box.directory)
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        #expect(try box.status().isEmpty)
    }
}
