import SystemPackage

/// How the host mounts its cgroup filesystems.
public enum CgroupMode: String, Sendable, Equatable, Codable {
    /// One cgroup2 hierarchy holds every controller (most current distributions).
    case unified
    /// Only cgroup v1 controller hierarchies, no cgroup2 mount.
    case legacy
    /// v1 controller hierarchies plus a cgroup2 mount (usually /sys/fs/cgroup/unified)
    /// that holds no controllers. berth uses the v1 hierarchies here, as systemd does.
    case hybrid
}

/// Limits in berth's terms (the spec's), every one optional: nil means no limit
/// or the kernel's default.
public struct CgroupLimits: Sendable, Equatable, Codable {
    /// CPU bandwidth: quota = millicores * period / 1000, with a period of 100000 µs.
    public var cpuMillicores: Int?
    /// 1...10000, the cgroup v2 weight; on v1 converted to `cpu.shares`. nil is the
    /// default (100 on v2, 1024 shares on v1), and the default reads back as nil.
    public var cpuWeight: Int?
    /// CPUs in the kernel's list format ("0-1,3"); nil inherits the parent's.
    public var cpuset: String?
    public var memoryBytes: UInt64?
    /// Swap allowed beyond `memoryBytes` (v2 `memory.swap.max`; v1 memsw = memory + swap).
    public var memorySwapBytes: UInt64?
    public var pids: Int?
    /// Per-device throttles, sorted by device.
    public var io: [IOThrottle]

    public init(
        cpuMillicores: Int? = nil, cpuWeight: Int? = nil, cpuset: String? = nil, memoryBytes: UInt64? = nil,
        memorySwapBytes: UInt64? = nil, pids: Int? = nil, io: [IOThrottle] = []
    ) {
        self.cpuMillicores = cpuMillicores
        self.cpuWeight = cpuWeight
        self.cpuset = cpuset
        self.memoryBytes = memoryBytes
        self.memorySwapBytes = memorySwapBytes
        self.pids = pids
        self.io = io
    }
}

/// Throttles on one block device; nil fields are unlimited.
public struct IOThrottle: Sendable, Equatable, Codable {
    public var major: UInt32
    public var minor: UInt32
    public var readBps: UInt64?
    public var writeBps: UInt64?
    public var readIops: UInt64?
    public var writeIops: UInt64?

    public init(
        major: UInt32, minor: UInt32, readBps: UInt64? = nil, writeBps: UInt64? = nil,
        readIops: UInt64? = nil, writeIops: UInt64? = nil
    ) {
        self.major = major
        self.minor = minor
        self.readBps = readBps
        self.writeBps = writeBps
        self.readIops = readIops
        self.writeIops = writeIops
    }

    /// "MAJ:MIN", as the kernel writes devices.
    public var device: String { "\(major):\(minor)" }

    /// True when no field is limited: the kernel keeps no entry for such a device.
    public var isUnlimited: Bool { readBps == nil && writeBps == nil && readIops == nil && writeIops == nil }
}

/// What a cgroup has used; nil where the kernel does not offer the figure.
public struct CgroupUsage: Sendable, Equatable, Codable {
    public var memoryCurrent: UInt64?
    /// The highest memory use seen (v2 `memory.peak`, v1 `memory.max_usage_in_bytes`).
    public var memoryPeak: UInt64?
    public var cpuUsageNanos: UInt64?
    public var throttledPeriods: UInt64?
    public var throttledNanos: UInt64?
    public var pidsCurrent: Int?
    /// Processes the OOM killer killed in this cgroup.
    public var oomKills: Int?

    public init(
        memoryCurrent: UInt64? = nil, memoryPeak: UInt64? = nil, cpuUsageNanos: UInt64? = nil,
        throttledPeriods: UInt64? = nil, throttledNanos: UInt64? = nil, pidsCurrent: Int? = nil, oomKills: Int? = nil
    ) {
        self.memoryCurrent = memoryCurrent
        self.memoryPeak = memoryPeak
        self.cpuUsageNanos = cpuUsageNanos
        self.throttledPeriods = throttledPeriods
        self.throttledNanos = throttledNanos
        self.pidsCurrent = pidsCurrent
        self.oomKills = oomKills
    }
}

/// One way of driving the kernel's cgroups (v2, or v1 for legacy and hybrid hosts).
///
/// Paths are relative to the cgroup root of each hierarchy, like
/// "berth/<project>/<container>"; they must not be absolute, empty, or contain
/// "." or ".." components. Every failure is a `KernelError` naming the file and value.
public protocol CgroupDriver: Sendable {
    var mode: CgroupMode { get }

    /// Creates the cgroup and its missing ancestors in every hierarchy berth uses:
    /// on v2 enabling the controllers down the path (`cgroup.subtree_control`),
    /// on v1 copying `cpuset.cpus`/`cpuset.mems` from the parent. Existing cgroups are fine.
    func create(_ path: String) throws

    /// True when the cgroup exists (in any hierarchy berth uses).
    func exists(_ path: String) -> Bool

    /// Names of the child cgroups, sorted.
    func children(of path: String) throws -> [String]

    /// The directories of a cgroup in every hierarchy this driver uses (one on cgroup
    /// v2, one per controller mount on v1), whether they exist or not: what to watch.
    func directories(of path: String) -> [String]

    /// Writes every field: nil resets to unlimited or the default, and io throttles
    /// no longer listed are removed.
    func apply(_ limits: CgroupLimits, to path: String) throws

    /// Denies every device but the policy's rules (v1: the devices controller;
    /// v2: a BPF device program). Call before a process joins the cgroup.
    func applyDevices(_ policy: DevicePolicy, to path: String) throws

    /// The limits as read back from the cgroup files.
    func limits(of path: String) throws -> CgroupLimits

    /// What `limits(of:)` will read after `apply(limits)`: the kernel's rounding of
    /// memory to the page size, weight -> shares -> weight on v1, a quota below the
    /// kernel's minimum, default values reading as nil, io sorted by device.
    /// Compare `normalized(desired)` with what was observed.
    func normalized(_ limits: CgroupLimits) -> CgroupLimits

    /// What the cgroup has used.
    func usage(of path: String) throws -> CgroupUsage

    /// Moves a process (all its threads) into the cgroup, in every hierarchy; nothing
    /// to do for one created there (``spawnTarget(_:)``).
    func addProcess(_ pid: Int32, to path: String) throws

    /// The cgroup's directory, open, for creating a process inside it (clone3 with
    /// CLONE_INTO_CGROUP): it starts there, without the cgroup.procs write and the
    /// RCU grace period that write waits for. nil where the kernel cannot (v1: a
    /// process is in several hierarchies): ``addProcess(_:to:)`` moves it then.
    func spawnTarget(_ path: String) throws -> FileDescriptor?

    /// The processes in this cgroup (not its descendants), sorted.
    func processes(in path: String) throws -> [Int32]

    /// True when `pid` is among ``processes(in:)``. On v1 the hierarchies are read in
    /// turn until one lists it, so a member usually costs one file instead of one per
    /// hierarchy.
    func contains(_ pid: Int32, in path: String) throws -> Bool

    /// Kills every process in the cgroup and its descendants (not only the one berth
    /// started) and waits until they have left it, failing after `timeout`.
    func killAll(in path: String, timeout: Duration) throws

    /// Removes the cgroup and any descendants, deepest first, in every hierarchy.
    /// A cgroup already gone is fine; one that still holds processes is an error.
    func remove(_ path: String) throws
}

extension CgroupDriver {
    public func spawnTarget(_ path: String) throws -> FileDescriptor? { nil }

    public func contains(_ pid: Int32, in path: String) throws -> Bool {
        try processes(in: path).contains(pid)
    }

    /// `killAll(in:timeout:)` with a ten-second deadline.
    public func killAll(in path: String) throws {
        try killAll(in: path, timeout: .seconds(10))
    }
}

/// Finds how the host mounts cgroups and returns the driver for it.
public enum Cgroups {
    /// The driver for this host: v2 for a unified host, v1 for legacy and hybrid ones.
    ///
    /// - Parameter root: where the cgroup filesystems are mounted.
    public static func detect(root: String = "/sys/fs/cgroup") throws -> any CgroupDriver {
        let text = try CgroupFS.read("/proc/self/mountinfo")
        return try detect(mountinfo: text, root: root)
    }

    /// The driver for the mounts described by a mountinfo text (testable without the host's).
    public static func detect(mountinfo: String, root: String = "/sys/fs/cgroup") throws -> any CgroupDriver {
        let layout = try CgroupLayout(mountinfo: mountinfo, root: root)
        switch layout.mode {
        case .unified:
            return CgroupV2Driver(root: layout.unifiedMountPoint!)
        case .legacy, .hybrid:
            return CgroupV1Driver(hierarchies: layout.v1Hierarchies, mode: layout.mode)
        }
    }
}
