import BerthKernel
import FoundationEssentials
import Synchronization
import Glibc

/// berth's records of a project, read again only when a record file changed.
///
/// Every record is written by rename (see ``StateStore/writeAtomically(_:to:)``), so a
/// changed record is a new inode: a stat of each file tells whether anything changed,
/// at a fraction of the cost of decoding them all on every pass.
final class RecordCache {
    let store: StateStore
    let project: String
    private var stamps: [Stamp] = []
    private var records: ProjectRecords?
    /// Changes whenever the records were read again: two reads of one generation are the same.
    private(set) var generation = 0

    init(store: StateStore, project: String) {
        self.store = store
        self.project = project
    }

    func read() throws -> ProjectRecords {
        // Stamps first: a record written between the two steps is read again next time.
        let now = currentStamps()
        if let records, now == stamps { return records }
        let fresh = try store.records(project)
        records = fresh
        stamps = now
        generation += 1
        return fresh
    }

    /// A record file's name under its directory, and its stat.
    private struct Stamp: Equatable {
        var name: String
        var stamp: FileStamp
    }

    /// In the directories' order, which stays the same while no entry comes or goes (one
    /// that does reads the records again, as it must). Each file is stat'ed relative to its
    /// open directory: at 1,000 containers this runs every pass.
    private func currentStamps() -> [Stamp] {
        var out: [Stamp] = []
        let project = store.projectDirectory(project)
        Self.eachEntry("\(project)/containers") { dir, name in
            if let stamp = FileStamp(at: dir, name + "/record.json") { out.append(Stamp(name: name, stamp: stamp)) }
        }
        Self.eachEntry("\(project)/networks") { dir, name in
            if name.hasSuffix(".json"), let stamp = FileStamp(at: dir, name) { out.append(Stamp(name: "/" + name, stamp: stamp)) }
        }
        return out
    }

    /// Calls `body` with the open directory and each name in it (none when it does not
    /// exist), `.` entries left out.
    static func eachEntry(_ path: String, _ body: (Int32, String) -> Void) {
        guard let dir = opendir(path) else { return }
        defer { closedir(dir) }
        let fd = dirfd(dir)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { body(fd, name) }
        }
    }
}

/// What the cgroup driver reads back for given limits, remembered: on cgroup v1 the
/// driver reads the hierarchy's cpuset to normalise, and the planner asks twice per
/// container on every pass. Forgotten at each complete observation.
final class NormalizedLimits: @unchecked Sendable {
    private let driver: any CgroupDriver
    private let known = Mutex<[(CgroupLimits, CgroupLimits)]>([])

    init(driver: any CgroupDriver) {
        self.driver = driver
    }

    func normalized(_ limits: CgroupLimits) -> CgroupLimits {
        known.withLock { known in
            if let hit = known.first(where: { $0.0 == limits }) { return hit.1 }
            let result = driver.normalized(limits)
            // Containers share a few distinct limits; a spec with many keeps the search short.
            if known.count >= 64 { known.removeFirst() }
            known.append((limits, result))
            return result
        }
    }

    func forget() {
        known.withLock { $0 = [] }
    }
}
