@testable import Berth
import BerthKernel
import Foundation
import Testing

/// `berth status` takes no lock, so a destroy can run between its reading of the records and
/// its look at the kernel (seen: a destroyed project's container listed as exited, from the
/// record read before the destroy removed it). The look that follows the read decides: what
/// has neither a record nor a cgroup any more is gone, and is not listed.
@Suite("status during a destroy", .enabled(if: geteuid() == 0, "needs root"))
struct StatusDuringDestroyTests {
    @Test func aContainerDestroyedAfterTheRecordsWereReadIsNotListed() throws {
        let box = try Sandbox("status-destroy")
        defer { box.close() }
        try box.write("""
            version: 1
            containers:
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
              job:
                rootfs: ./rootfs
                command: [sh, -c, "exit 0"]
                restart: never
            """)
        try box.apply()
        let engine = try Engine.host(stateDirectory: box.stateDirectory, executable: box.berth)
        #expect(try eventually { try engine.status(project: box.project).map(\.state) == ["exited", "running"] })

        // status's first read, then the whole destroy, then status's look at the kernel.
        let read = try engine.store.records(box.project)
        #expect(Set(read.containers.keys) == ["job", "web"])
        let destroyed = try box.run("destroy", "-p", box.project)
        #expect(destroyed.status == 0, "\(destroyed.stdout)\(destroyed.stderr)")
        let after = try engine.status(project: box.project, records: read)
        #expect(after.isEmpty, "listed after the destroy: \(after.map { "\($0.name) \($0.state)" })")
        let table = try box.run("status", "-p", box.project)
        #expect(table.stdout.contains("No containers."), "\(table.stdout)")
    }

    /// The same look keeps what is still there: a container whose init was killed (its
    /// record and its cgroup kept) is listed as before.
    @Test func whatIsStillThereIsListed() throws {
        let box = try Sandbox("status-kept")
        defer { box.close() }
        try box.write("""
            version: 1
            containers:
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
            """)
        try box.apply()
        let engine = try Engine.host(stateDirectory: box.stateDirectory, executable: box.berth)
        let read = try engine.store.records(box.project)
        let pid = try #require(try box.runningPID("web"))
        kill(pid, SIGKILL)
        #expect(try eventually { gone(pid) })
        let after = try engine.status(project: box.project, records: read)
        #expect(after.map(\.name) == ["web"] && after.first?.state != "running", "\(after)")
    }
}
