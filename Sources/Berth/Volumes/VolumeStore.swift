import BerthKernel
import FoundationEssentials
import Glibc
import SystemPackage

/// Named volumes on disk, inside the project's state directory:
///
/// ```
/// <state>/<project>/volumes/<name>/data    what containers mount
/// ```
///
/// Inside the project's own directory, so that no project name can collide with a
/// volume's path. A volume outlives its containers and `destroy`; only `berth volume
/// rm|prune` and `destroy --volumes` remove it, and never while a container of the
/// project (running or stopped: it has a record) mounts it.
public struct VolumeStore: Sendable {
    public var store: StateStore

    public init(store: StateStore) {
        self.store = store
    }

    public func directory(_ project: String, _ name: String) -> String {
        "\(store.projectDirectory(project))/volumes/\(name)"
    }

    /// The directory mounted into containers.
    public func dataDirectory(_ project: String, _ name: String) -> String {
        directory(project, name) + "/data"
    }

    /// The volumes that exist for `project`, sorted. Reading creates nothing.
    public func names(_ project: String) -> [String] {
        let dir = "\(store.projectDirectory(project))/volumes"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
            !$0.hasPrefix(".") && FileManager.default.fileExists(atPath: dataDirectory(project, $0))
        }.sorted()
    }

    /// Every volume of every project here, by project then name.
    public func all() -> [(project: String, name: String)] {
        let projects = ((try? FileManager.default.contentsOfDirectory(atPath: store.root)) ?? []).filter { !$0.hasPrefix(".") }
        return projects.sorted().flatMap { p in names(p).map { (p, $0) } }
    }

    /// Makes the volume if it is missing (empty, root's, 0755). The data directory
    /// appears by rename, so a volume is either there whole or not at all.
    /// Returns whether it was made now.
    @discardableResult
    public func create(_ project: String, _ name: String) throws -> Bool {
        let data = dataDirectory(project, name)
        if FileManager.default.fileExists(atPath: data) { return false }
        let dir = directory(project, name)
        try StateStore.makeDirectories(dir)
        let temp = "\(dir)/.data.\(getpid()).tmp"
        try? FileManager.default.removeItem(atPath: temp)
        guard mkdir(temp, 0o755) == 0, chmod(temp, 0o755) == 0 else {
            throw StateError.errno("create volume \(project)/\(name)")
        }
        guard rename(temp, data) == 0 else {
            let e = errno
            rmdir(temp)
            if e == EEXIST || e == ENOTEMPTY { return false }
            throw StateError("create volume \(project)/\(name)", .system(Errno(rawValue: e)))
        }
        return true
    }

    /// When the volume is empty, fills it with what the container's root holds at
    /// `target` (layers top first, see ``LayeredCopy``), owners, modes and xattrs kept,
    /// as Docker does for a new container. The copy is made aside and renamed over the
    /// empty data directory, so a crash never leaves a half-seeded volume that looks whole.
    /// Returns what was copied (nil: the volume was not empty).
    @discardableResult
    public func seedIfEmpty(_ project: String, _ name: String, target: String, layers: [String]) throws -> LayeredCopy.Report? {
        let data = dataDirectory(project, name)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: data), entries.isEmpty else { return nil }
        let temp = "\(directory(project, name))/.seed.\(getpid()).tmp"
        try? FileManager.default.removeItem(atPath: temp)
        guard mkdir(temp, 0o755) == 0 else {
            throw StateError.errno("seed volume \(project)/\(name)")
        }
        do {
            let report = try LayeredCopy.copy(target, of: layers, into: temp)
            guard report.copied > 0 else {
                // Nothing under the target: keep the empty volume as it is (and its owner).
                try? FileManager.default.removeItem(atPath: temp)
                return report
            }
            // rename(2) replaces an empty directory atomically; a non-empty one (a container
            // wrote meanwhile) makes it fail and the volume stays as that container left it.
            guard rename(temp, data) == 0 else {
                let e = errno
                try? FileManager.default.removeItem(atPath: temp)
                if e == ENOTEMPTY || e == EEXIST { return nil }
                throw StateError("seed volume \(project)/\(name)", .system(Errno(rawValue: e)))
            }
            return report
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw error
        }
    }

    /// An empty volume still owned by the host's root belongs to the container's root
    /// when the container has a user namespace (the host's root is nobody in there, and
    /// the container could not write to its own volume), as Docker does with userns-remap.
    public func handOverIfEmpty(_ project: String, _ name: String, to userns: UserNamespace) throws {
        let data = dataDirectory(project, name)
        var st = stat()
        guard lstat(data, &st) == 0, st.st_uid == 0, st.st_gid == 0,
              (try? FileManager.default.contentsOfDirectory(atPath: data))?.isEmpty == true,
              let uid = userns.uidMap.hostID(of: 0), let gid = userns.gidMap.hostID(of: 0),
              uid != 0 || gid != 0 else { return }
        guard chown(data, uid, gid) == 0 else { throw StateError.errno("chown volume \(project)/\(name)") }
    }

    /// The project's containers (with a record: running or stopped) that mount the volume.
    public func users(_ project: String, _ name: String) throws -> [String] {
        try store.records(project).containers.values.filter { record in
            record.spec.mounts.contains { if case .volume(name, _, _) = $0 { true } else { false } }
        }.map(\.spec.name).sorted()
    }

    /// Removes the volume and everything in it; refused while a container mounts it.
    public func remove(_ project: String, _ name: String) throws {
        let users = try users(project, name)
        guard users.isEmpty else { throw VolumeError.inUse(project: project, name: name, by: users) }
        let dir = directory(project, name)
        guard FileManager.default.fileExists(atPath: dir) else { throw VolumeError.noSuchVolume(project: project, name: name) }
        // Renamed away first: a volume is gone at once, even if removing its files takes long or fails.
        let doomed = "\(store.projectDirectory(project))/volumes/.removing.\(name).\(getpid())"
        guard rename(dir, doomed) == 0 else {
            throw StateError.errno("remove volume \(project)/\(name)")
        }
        do { try FileManager.default.removeItem(atPath: doomed) } catch {
            throw StateError("remove volume \(project)/\(name)", FileErrorText.reason(error))
        }
        rmdir("\(store.projectDirectory(project))/volumes")  // only when it was the last one
    }

    /// Bytes the volume's files take on disk (st_blocks), and how many entries it holds.
    public func usage(_ project: String, _ name: String) -> (bytes: UInt64, entries: Int) {
        var bytes: UInt64 = 0, entries = 0
        let root = dataDirectory(project, name)
        FileTree.walk(root) { _, st in
            bytes += UInt64(st.st_blocks) * 512
            entries += 1
        }
        return (bytes, entries)
    }
}

/// Why a volume command refused.
public enum VolumeError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchVolume(project: String, name: String)
    case inUse(project: String, name: String, by: [String])
    /// `NAME` exists in several projects: say which.
    case ambiguous(name: String, projects: [String])

    public var description: String {
        switch self {
        case .noSuchVolume(let project, let name): "no volume \(name) in project \(project)"
        case .inUse(let project, let name, let by):
            "volume \(project)/\(name) is in use by container\(by.count == 1 ? "" : "s") \(by.joined(separator: ", "))"
                + " (destroy or change \(by.count == 1 ? "it" : "them") first)"
        case .ambiguous(let name, let projects):
            "volume \(name) exists in projects \(projects.joined(separator: ", ")); say which with -p or PROJECT/NAME"
        }
    }
}
