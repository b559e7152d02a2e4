import BerthKernel
import Foundation
import Testing

/// The reconciler's event sources, on the real kernel: pidfds, inotify, UTS namespaces.
/// Serialized: the signal pipe is one per process.
@Suite(.serialized) struct ReconcileEventsTests {
    /// A temporary directory for one test, removed afterwards.
    final class TempDirectory {
        let path: String
        init(_ tag: String) throws {
            path = FileManager.default.temporaryDirectory
                .appendingPathComponent("berth-events-\(tag)-\(UInt32.random(in: 0...UInt32.max))").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Runs a program as a child; killed and reaped on `stop()`.
    final class Child {
        let process = Process()
        init(_ argv: [String]) throws {
            signal(SIGPIPE, SIG_IGN)
            process.executableURL = URL(fileURLWithPath: argv[0])
            process.arguments = Array(argv.dropFirst())
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }
        var identity: ProcessIdentity { get throws { try ProcessIdentity.read(pid: process.processIdentifier) } }
        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    /// Waits (a few rounds, up to `timeout` in all) until a reason matching `match` comes.
    func waitFor(_ waiter: EventWaiter, timeout: Double = 3, _ match: (WakeReason) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if waiter.wait(timeout: deadline.timeIntervalSinceNow).contains(where: match) { return true }
        }
        return false
    }

    @Test func anExitedProcessWakesTheWaiter() throws {
        let child = try Child(["/bin/sleep", "100"])
        defer { child.stop() }
        let id = try child.identity
        let waiter = EventWaiter()
        #expect(waiter.watch(processes: [id]).isEmpty)
        #expect(waiter.isWatched(id))
        #expect(waiter.wait(timeout: 0.1) == [.timeout])
        kill(id.pid, SIGKILL)
        #expect(waitFor(waiter) { $0 == .processExited(id.pid) })
        #expect(!waiter.isWatched(id))
        // A process already gone is reported, not watched.
        #expect(waiter.watch(processes: [id]) == [id])
    }

    /// Many watched processes (the reconciler of 1,000 containers): exactly those that exit
    /// are reported, each once, also more at once than one read of the kernel's ready list holds.
    @Test func amongManyWatchedProcessesExactlyTheExitedOnesAreReported() throws {
        let children = try (0..<70).map { _ in try Child(["/bin/sleep", "100"]) }
        defer { for child in children { child.stop() } }
        let ids = try children.map { try $0.identity }
        let waiter = EventWaiter()
        #expect(waiter.watch(processes: ids).isEmpty)
        #expect(waiter.wait(timeout: 0.05) == [.timeout])
        func exits(of killed: [ProcessIdentity]) -> [Int32] {
            for id in killed { kill(id.pid, SIGKILL) }
            var seen: [Int32] = []
            let deadline = Date().addingTimeInterval(10)
            while Set(seen).count < killed.count, Date() < deadline {
                for case .processExited(let pid) in waiter.wait(timeout: deadline.timeIntervalSinceNow) { seen.append(pid) }
            }
            return seen
        }
        let first = [ids[3], ids[40], ids[69]]
        #expect(exits(of: first).sorted() == first.map(\.pid).sorted())
        #expect(ids.filter { waiter.isWatched($0) } == ids.filter { !first.contains($0) })
        let rest = ids.filter { !first.contains($0) }
        #expect(exits(of: rest).sorted() == rest.map(\.pid).sorted())
        #expect(waiter.wait(timeout: 0.05) == [.timeout])
    }

    @Test func writesAndRemovalsInAWatchedDirectoryWakeTheWaiter() throws {
        let dir = try TempDirectory("dir")
        let waiter = EventWaiter()
        #expect(try waiter.watch(directory: dir.path, tag: "web"))
        #expect(try !waiter.watch(directory: dir.path + "/missing", tag: "gone"))
        #expect(waiter.watchedDirectories == [dir.path])

        try "1".write(toFile: dir.path + "/memory.limit", atomically: false, encoding: .utf8)
        #expect(waitFor(waiter) { $0 == .directoryChanged(tag: "web", entry: "memory.limit") })
        // What the kernel writes itself on cgroup v2 (events, pressure) is not a change.
        let events = dir.path + "/memory.events"
        FileManager.default.createFile(atPath: events, contents: nil)
        _ = waitFor(waiter, timeout: 0.3) { $0 == .directoryChanged(tag: "web", entry: "memory.events") }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: events))
        try handle.write(contentsOf: Data("low 1\n".utf8))
        try handle.close()
        let seen = waiter.wait(timeout: 0.3).filter { $0 != .timeout }
        #expect(!seen.contains(.directoryChanged(tag: "web", entry: "memory.events")), "\(seen)")

        try FileManager.default.removeItem(atPath: dir.path)
        #expect(waitFor(waiter) { $0 == .directoryChanged(tag: "web", entry: nil) })
        #expect(waiter.watchedDirectories.isEmpty)
    }

    @Test func aFileReplacedByRenameWakesTheWaiterAndOthersDoNot() throws {
        let dir = try TempDirectory("file")
        let spec = dir.path + "/demo.yaml"
        try "a".write(toFile: spec, atomically: false, encoding: .utf8)
        let waiter = EventWaiter()
        try waiter.watch(file: spec)
        try "b".write(toFile: dir.path + "/other.yaml", atomically: true, encoding: .utf8)
        #expect(waiter.wait(timeout: 0.3) == [.timeout])
        try "c".write(toFile: spec, atomically: true, encoding: .utf8)
        #expect(waitFor(waiter) { $0 == .fileChanged })
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: makes UTS namespaces"))
    func hostnamesAreReadInsideEachNamespace() throws {
        let children = try ["alpha", "beta"].map { name in
            try Child(["/usr/bin/unshare", "--uts", "/bin/sh", "-c", "hostname \(name) && exec sleep 100"])
        }
        defer { children.forEach { $0.stop() } }
        let ids = try children.map { try $0.identity }
        let waiter = EventWaiter()
        #expect(waiter.watch(processes: ids).isEmpty)
        var names: [ProcessIdentity: String] = [:]
        // `hostname` runs before the exec: wait until both are renamed.
        #expect(eventually(timeout: 5) {
            names = waiter.hostnames(of: ids)
            return names[ids[0]] == "alpha" && names[ids[1]] == "beta"
        }, "\(names)")
        // The reader's own hostname is untouched.
        var own = [CChar](repeating: 0, count: 256)
        gethostname(&own, 255)
        #expect(String(cString: own) != "alpha")
        // An exited process is left out.
        children[0].stop()
        #expect(waitFor(waiter) { $0 == .processExited(ids[0].pid) })
        #expect(waiter.hostnames(of: ids).keys.sorted { $0.pid < $1.pid } == [ids[1]])
    }

    @Test func pendingSignalsAreSeenBeforeTheyAreDrained() throws {
        // SIGUSR2 is not used by the test runner; routed to the pipe for this test only.
        try SignalPipe.shared.listen(to: [SIGUSR2])
        defer { signal(SIGUSR2, SIG_IGN) }
        _ = SignalPipe.shared.drain()
        #expect(!SignalPipe.shared.isPending([SIGUSR2]))
        kill(getpid(), SIGUSR2)
        #expect(eventually(timeout: 2) { SignalPipe.shared.isPending([SIGUSR2]) })
        #expect(SignalPipe.shared.drain().contains(SIGUSR2))
        #expect(!SignalPipe.shared.isPending([SIGUSR2]))
    }

    @Test func cgroupDirectoriesAreOnePerHierarchy() {
        let v1 = CgroupV1Driver(hierarchies: [
            CgroupV1Hierarchy(mountPoint: "/sys/fs/cgroup/memory", controllers: ["memory"]),
            CgroupV1Hierarchy(mountPoint: "/sys/fs/cgroup/cpu", controllers: ["cpu"]),
        ], mode: .hybrid)
        #expect(v1.directories(of: "berth/p/web") == ["/sys/fs/cgroup/memory/berth/p/web", "/sys/fs/cgroup/cpu/berth/p/web"])
        #expect(CgroupV2Driver(root: "/sys/fs/cgroup").directories(of: "berth/p/web") == ["/sys/fs/cgroup/berth/p/web"])
    }
}
