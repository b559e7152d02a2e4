import Berth
import BerthKernel
import Foundation
import Testing

/// berth's own bookkeeping under the conditions that break it: a lock file removed
/// while it is held and waited for, a destroy while a reconciler runs, the temp
/// files of writers killed mid-write.
@Suite struct LockTests {
    func store() -> (StateStore, String) {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("berth-lock-\(UUID().uuidString.prefix(8))").path
        return (StateStore(root: dir), dir)
    }

    /// Runs `body` on a thread of its own; the returned flag is set when it returns.
    final class Waiter: @unchecked Sendable {
        private let lock = NSLock()
        private var held: ProjectLock?
        private var done = false
        var error: (any Error)?

        init(_ body: @escaping @Sendable () throws -> ProjectLock) {
            Thread.detachNewThread { [self] in
                let result = Result { try body() }
                lock.lock()
                defer { lock.unlock() }
                switch result {
                case .success(let l): held = l
                case .failure(let e): error = e
                }
                done = true
            }
        }

        var finished: Bool { lock.lock(); defer { lock.unlock() }; return done }
        var acquired: ProjectLock? { lock.lock(); defer { lock.unlock() }; return held }
    }

    @Test func aLockWhoseFileWasRemovedIsTakenAgainOnTheNewFile() throws {
        let (store, root) = store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try ProjectLock.acquire(store: store, project: "p", command: "destroy", timeout: 1)
        // A waiter blocks on the file `first` holds.
        let waiter = Waiter { try ProjectLock.acquire(store: store, project: "p", command: "apply", timeout: 20) }
        #expect(eventually(timeout: 5) {
            ((try? String(contentsOfFile: "\(root)/p/lock", encoding: .utf8)) ?? "").contains("destroy")
        })
        usleep(100_000)
        #expect(!waiter.finished)
        // The holder's last step removes the project (its lock file with it) and releases.
        #expect(try store.removeProjectIfEmpty("p", holding: [first]))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/p"))
        // A newcomer takes the lock on a new file at once...
        let newcomer = try ProjectLock.acquire(store: store, project: "p", command: "apply", timeout: 5)
        // ...and the waiter, woken on the removed file, must not hold "the" lock beside it.
        usleep(300_000)
        #expect(!waiter.finished, "two holders of one project's lock")
        newcomer.release()
        #expect(eventually(timeout: 5) { waiter.finished })
        #expect(waiter.error == nil)
        let held = try #require(waiter.acquired)
        #expect(FileManager.default.fileExists(atPath: held.path))
        held.release()
    }

    @Test func aLockHeldElsewhereIsATypedErrorAndTryAcquireSaysNil() throws {
        let (store, root) = store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let held = try ProjectLock.acquire(store: store, project: "p", command: "apply", timeout: 1)
        defer { held.release() }
        #expect(try ProjectLock.tryAcquire(store: store, project: "p", command: "reconcile") == nil)
        do {
            _ = try ProjectLock.acquire(store: store, project: "p", command: "reconcile", timeout: 0.1)
            Issue.record("a held lock was taken twice")
        } catch let error as StateError {
            guard case .lockHeld(let holder, _) = error.reason else {
                Issue.record("unexpected reason \(error.reason)")
                return
            }
            #expect(holder == "pid \(getpid()) (berth apply)")
            #expect(error.description.contains("still held by pid \(getpid()) (berth apply)"))
        }
    }

    @Test func aProjectWhoseReconcilerLockIsHeldKeepsItsDirectory() throws {
        let (store, root) = store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let reconciler = try ProjectLock.acquire(store: store, project: "p", command: "reconcile", timeout: 1,
                                                 name: "reconciler.lock")
        let lock = try ProjectLock.acquire(store: store, project: "p", command: "apply", timeout: 1)
        #expect(try !store.removeProjectIfEmpty("p", holding: [lock]))
        // The reconciler still holds the file at the path: a second one is refused.
        #expect(try ProjectLock.tryAcquire(store: store, project: "p", command: "reconcile",
                                           name: "reconciler.lock") == nil)
        reconciler.release()
        lock.release()
    }
}

@Suite(.enabled(if: geteuid() == 0, "needs root: runs containers"))
struct ProjectLifecycleTests {
    func spec(_ box: Sandbox) -> String {
        """
        version: 1
        containers:
          one:
            rootfs: ./rootfs
            command: [/bin/sleep, "1000"]
            stopTimeout: 1s
        """
    }

    @Test func destroyLeavesNoTraceEvenAfterADeadWritersTempFiles() throws {
        let box = try Sandbox("trace")
        defer { box.close() }
        try box.write(spec(box))
        try box.apply()
        let projectDir = "\(box.stateDirectory)/\(box.project)"
        // A writer killed between creating its temp file and renaming it.
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let stale = "\(projectDir)/containers/one/.record.json.\(dead.processIdentifier).tmp"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data("{".utf8)))
        try FileManager.default.createDirectory(atPath: "\(projectDir)/networks", withIntermediateDirectories: true)
        let staleNetwork = "\(projectDir)/networks/.n.json.\(dead.processIdentifier).tmp"
        #expect(FileManager.default.createFile(atPath: staleNetwork, contents: Data("{".utf8)))
        let r = try box.run("destroy", "-f", box.specPath)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: projectDir),
                "left: \((FileManager.default.subpaths(atPath: projectDir) ?? []).sorted())")
    }

    @Test func applyCleansTheTempFilesOfDeadWritersOnly() throws {
        let box = try Sandbox("tempfiles")
        defer { box.close() }
        try box.write(spec(box))
        try box.apply()
        let dir = "\(box.stateDirectory)/\(box.project)/containers/one"
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let stale = "\(dir)/.record.json.\(dead.processIdentifier).tmp"
        let live = "\(dir)/.record.json.\(getpid()).tmp"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data()))
        #expect(FileManager.default.createFile(atPath: live, contents: Data()))
        try box.apply()
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: live))
        try? FileManager.default.removeItem(atPath: live)
    }

    @Test func destroyStopsTheProjectsReconcilerFirstAndNothingComesBack() throws {
        let box = try Sandbox("destroyrec")
        defer { box.close() }
        try box.write(spec(box))
        let reconciler = try ReconcilerRun(box, interval: "1s")
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        #expect(try eventually(timeout: 10) { try box.runningPID("one") != nil })
        let r = try box.run("destroy", "-f", box.specPath)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Stopped the reconciler of project \(box.project) (pid \(reconciler.pid))"), "\(r.stdout)")
        #expect(r.stdout.contains("Destroy complete: 1 destroyed."))
        // It was stopped, not outrun: it has exited cleanly, and the project stays gone.
        #expect(reconciler.waitExit(timeout: 10) == 0, "\(reconciler.log)")
        #expect(try box.statusEntries().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(box.stateDirectory)/\(box.project)"))
        #expect(!((try? box.cgroups.exists("berth/\(box.project)")) ?? true))
    }
}
