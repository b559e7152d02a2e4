import BerthKernel
import FoundationEssentials
import Glibc
import SystemPackage

/// berth's own records, under a state directory (default /var/lib/berth):
///
/// ```
/// <root>/<project>/lock                          serialises applies and reconcilers
/// <root>/<project>/containers/<name>/record.json what was applied (ContainerRecord)
/// <root>/<project>/containers/<name>/container.log
/// <root>/<project>/containers/<name>/exit.json   written by berth init
/// <root>/<project>/volumes/<name>/data           a named volume (see VolumeStore)
/// ```
///
/// Only what the kernel cannot tell lives here. Every write is atomic (temp file,
/// fsync, rename, fsync of the directory). A container's record is written once per
/// start, when it runs (``Engine``'s start); until then the previous one stands.
/// Reading never creates anything, so `plan` and `status` leave no trace.
public struct StateStore: Sendable {
    public var root: String

    public static let defaultRoot = "/var/lib/berth"

    public init(root: String = StateStore.defaultRoot) {
        self.root = root
    }

    public func projectDirectory(_ project: String) -> String { "\(root)/\(project)" }
    public func containerDirectory(_ project: String, _ name: String) -> String {
        "\(root)/\(project)/containers/\(name)"
    }

    /// Projects that have a directory here.
    public func projects() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
            !$0.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(root)/\($0)/containers")
        }.sorted()
    }

    public func records(_ project: String) throws -> ProjectRecords {
        let dir = "\(projectDirectory(project))/containers"
        var out = ProjectRecords(networks: try networkRecords(project))
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }
        // Decoding JSON is most of reading a record: spread over the CPUs (Observe/Concurrently.swift).
        let decoded = try Concurrently.map(names) { name -> (String, ContainerRecord)? in
            try record(project, name).map { (name, $0) }
        }
        for case let (name, record)? in decoded { out.containers[name] = record }
        return out
    }

    /// One container's record (nil when it has none), for those who need one and not the
    /// project's: a healthcheck reads its container's alone, not every container's.
    public func record(_ project: String, _ name: String) throws -> ContainerRecord? {
        let path = "\(containerDirectory(project, name))/record.json"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try ContainerRecord.decode(Array(data))
        } catch {
            throw StateError("read \(path)", .corrupt("\(error)"))
        }
    }

    public func write(_ record: ContainerRecord, project: String) throws {
        let dir = containerDirectory(project, record.spec.name)
        try Self.makeDirectories(dir)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Self.writeAtomically(try encoder.encode(record), to: "\(dir)/record.json")
    }

    /// Makes the container's directory (its log, exit record and files live there before
    /// its record does).
    public func createContainerDirectory(_ project: String, _ name: String) throws {
        try Self.makeDirectories(containerDirectory(project, name))
    }

    /// Whether the container has a record.
    public func hasRecord(_ project: String, _ name: String) -> Bool {
        access("\(containerDirectory(project, name))/record.json", F_OK) == 0
    }

    /// Containers that have a directory and no record: a first start in progress (under the
    /// project's lock), or one that failed or was killed before it recorded anything.
    public func unrecordedContainers(_ project: String) -> [String] {
        let dir = "\(projectDirectory(project))/containers"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
            !$0.hasPrefix(".") && !hasRecord(project, $0)
        }.sorted()
    }

    /// Removes a container's records, log and exit status.
    public func removeContainer(project: String, name: String) throws {
        let dir = containerDirectory(project, name)
        guard FileManager.default.fileExists(atPath: dir) else { return }
        do { try FileManager.default.removeItem(atPath: dir) } catch { throw StateError("remove \(dir)", .other(FileErrorText.reason(error))) }
    }

    /// Names of the lock files a project directory holds (see ``ProjectLock``).
    static let lockNames = ["lock", "reconciler.lock"]

    /// True when the project has no container, no network record and no volume left.
    public func projectIsEmpty(_ project: String) -> Bool {
        let dir = projectDirectory(project)
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/containers")) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/networks")) ?? [])
            // Volumes outlive containers: a project that has one keeps its directory.
            + ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/volumes")) ?? [])
        return left.allSatisfy { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }
    }

    /// Removes the project's directory once no container, network or volume is left in it, the
    /// lock files last. Call as the last step with the project's lock held (`held`: the
    /// locks this process holds); a lock another process holds (a running reconciler's)
    /// keeps the directory. Returns whether the directory is gone.
    @discardableResult
    public func removeProjectIfEmpty(_ project: String, holding held: [ProjectLock]) throws -> Bool {
        let dir = projectDirectory(project)
        guard FileManager.default.fileExists(atPath: dir) else { return true }
        guard projectIsEmpty(project) else { return false }
        var locks = held.filter { $0.isHeld && FilePath($0.path).removingLastComponent() == FilePath(dir) }
        let heldNames = Set(locks.map { FilePath($0.path).lastComponent?.string ?? "" })
        for name in Self.lockNames where !heldNames.contains(name)
            && FileManager.default.fileExists(atPath: "\(dir)/\(name)") {
            // A lock file nobody holds can go; one somebody holds keeps the project's directory.
            guard let lock = try ProjectLock.tryAcquire(store: self, project: project, command: "destroy",
                                                        name: name) else { return false }
            locks.append(lock)
        }
        let lockNames = Set(locks.map { FilePath($0.path).lastComponent?.string ?? "" })
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !lockNames.contains(entry) {
            do {
                try FileManager.default.removeItem(atPath: "\(dir)/\(entry)")
            } catch {
                throw StateError("remove \(dir)/\(entry)", .other(FileErrorText.reason(error)))
            }
        }
        for lock in locks { lock.unlinkAndRelease() }
        guard rmdir(dir) == 0 || Glibc.errno == ENOENT else { throw StateError.errno("remove \(dir)") }
        return true
    }

    /// Removes temp files left by writers that died between creating and renaming them
    /// (`.record.json.PID.tmp`). Call with the project's lock held: every writer of a
    /// project's records holds it, so a temp file of another, dead, process is garbage.
    /// Returns the paths removed.
    @discardableResult
    public func removeStaleTempFiles(_ project: String) -> [String] {
        let dir = projectDirectory(project)
        var dead: [String] = []
        // Volumes hold the containers' data, not berth's records: never look inside.
        FileTree.walk(dir, descend: { $0 != "volumes" }) { relative, _ in
            if AtomicFile.isLeftOfDeadWriter(FilePath(relative).lastComponent?.string ?? "") { dead.append("\(dir)/\(relative)") }
        }
        return dead.filter { unlink($0) == 0 }
    }

    static func makeDirectories(_ path: String) throws {
        do {
            // Search-only for others: a container's root in a user namespace must reach its
            // own directory (its /etc/hosts, its exit record) without being able to list ours.
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o711])
        } catch {
            throw StateError("create \(path)", FileErrorText.reason(error))
        }
    }

    /// Replaces the file at `path` crash-safely (``AtomicFile``: temp file beside it, fsync,
    /// rename, fsync of the directory; without the fsyncs when not `durable`).
    public static func writeAtomically(_ data: Data, to path: String, durable: Bool = true) throws {
        do {
            try AtomicFile.write(data, to: path, durable: durable)
        } catch {
            throw StateError("write \(path)", error.errno.map { .system($0) } ?? .other(error.description))
        }
    }
}
