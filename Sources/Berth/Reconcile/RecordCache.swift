import BerthKernel
import Foundation
import Glibc

/// berth's records of a project, read again only when a record file changed.
///
/// Every record is written by rename (see ``StateStore/writeAtomically(_:to:)``), so a
/// changed record is a new inode: a stat of each file tells whether anything changed,
/// at a fraction of the cost of decoding them all on every pass.
final class RecordCache {
    let store: StateStore
    let project: String
    private var stamps: [String: FileStamp] = [:]
    private var records: ProjectRecords?

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
        return fresh
    }

    private func currentStamps() -> [String: FileStamp] {
        var out: [String: FileStamp] = [:]
        let containers = "\(store.projectDirectory(project))/containers"
        for name in Self.entries(containers) {
            let path = "\(containers)/\(name)/record.json"
            if let stamp = FileStamp(path: path) { out[path] = stamp }
        }
        let networks = "\(store.projectDirectory(project))/networks"
        for name in Self.entries(networks) where name.hasSuffix(".json") {
            let path = "\(networks)/\(name)"
            if let stamp = FileStamp(path: path) { out[path] = stamp }
        }
        return out
    }

    /// Names in a directory (none when it does not exist), without `.` entries.
    static func entries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }
}

/// What the cgroup driver reads back for given limits, remembered: on cgroup v1 the
/// driver reads the hierarchy's cpuset to normalise, and the planner asks twice per
/// container on every pass. Forgotten at each complete observation.
final class NormalizedLimits: @unchecked Sendable {
    private let driver: any CgroupDriver
    private let lock = NSLock()
    private var known: [(CgroupLimits, CgroupLimits)] = []

    init(driver: any CgroupDriver) {
        self.driver = driver
    }

    func normalized(_ limits: CgroupLimits) -> CgroupLimits {
        lock.lock()
        defer { lock.unlock() }
        if let hit = known.first(where: { $0.0 == limits }) { return hit.1 }
        let result = driver.normalized(limits)
        // Containers share a few distinct limits; a spec with many keeps the search short.
        if known.count >= 64 { known.removeFirst() }
        known.append((limits, result))
        return result
    }

    func forget() {
        lock.lock()
        known = []
        lock.unlock()
    }
}
