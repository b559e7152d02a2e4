/// One cgroup v1 hierarchy: a mount point and the controllers bound to it
/// ("cpu" alone, or "cpu" and "cpuacct" together, as many distributions mount them).
public struct CgroupV1Hierarchy: Sendable, Equatable {
    public var mountPoint: String
    public var controllers: [String]

    public init(mountPoint: String, controllers: [String]) {
        self.mountPoint = mountPoint
        self.controllers = controllers
    }
}

/// The cgroup filesystems under a root, as read from /proc/self/mountinfo, and the
/// mode they make: cgroup2 alone is unified, v1 controllers alone legacy, v1
/// controllers plus a cgroup2 mount hybrid.
public struct CgroupLayout: Sendable, Equatable {
    public var mode: CgroupMode
    /// The v1 controller hierarchies (empty on unified hosts), one per mount point.
    public var v1Hierarchies: [CgroupV1Hierarchy]
    /// The cgroup2 mount point: on unified hosts the root, on hybrid ones the
    /// empty extra mount (e.g. /sys/fs/cgroup/unified); nil on legacy hosts.
    public var unifiedMountPoint: String?

    /// Controller names of cgroup v1; other super options (rw, noprefix, xattr,
    /// name=systemd, ...) are not controllers.
    static let v1Controllers: Set<String> = [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
        "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc",
    ]

    /// Reads the layout from mountinfo text, considering only mounts at or below `root`.
    public init(mountinfo: String, root: String = "/sys/fs/cgroup") throws {
        let root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        var hierarchies: [CgroupV1Hierarchy] = []
        var cgroup2: [String] = []
        for line in mountinfo.split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 3 < fields.count else { continue }
            let mountPoint = Self.unescape(String(fields[4]))
            guard mountPoint == root || mountPoint.hasPrefix(root == "/" ? "/" : root + "/") else { continue }
            let fstype = fields[dash + 1]
            if fstype == "cgroup2" {
                cgroup2.append(mountPoint)
            } else if fstype == "cgroup" {
                let options = fields[dash + 3].split(separator: ",").map(String.init)
                let controllers = options.filter { Self.v1Controllers.contains($0) }
                // A named hierarchy without controllers (name=systemd) is systemd's, not berth's.
                guard !controllers.isEmpty else { continue }
                // The same hierarchy mounted twice (a bind mount) counts once.
                if hierarchies.contains(where: { Set($0.controllers) == Set(controllers) }) { continue }
                hierarchies.append(CgroupV1Hierarchy(mountPoint: mountPoint, controllers: controllers))
            }
        }
        switch (hierarchies.isEmpty, cgroup2.isEmpty) {
        case (true, true):
            throw KernelError("detect cgroups", root, detail: "no cgroup or cgroup2 filesystem is mounted there")
        case (true, false):
            mode = .unified
            unifiedMountPoint = cgroup2.contains(root) ? root : cgroup2[0]
        case (false, true):
            mode = .legacy
        case (false, false):
            mode = .hybrid
            unifiedMountPoint = cgroup2[0]
        }
        v1Hierarchies = hierarchies
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 4 <= bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)..<(i + 4)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
