import SystemPackage

/// The cgroup v2 driver: one unified hierarchy at `root`.
///
/// Files: `cpu.max`, `cpu.weight`, `cpuset.cpus`, `memory.max`, `memory.swap.max`,
/// `pids.max`, `io.max`; controllers are enabled in each ancestor's
/// `cgroup.subtree_control`; `cgroup.kill` (or the freezer) empties a cgroup.
public struct CgroupV2Driver: CgroupDriver {
    public let root: String
    public var mode: CgroupMode { .unified }

    /// The controllers berth enables down a path, where the parent offers them.
    public static let controllers: Set<String> = ["cpuset", "cpu", "io", "memory", "pids"]
    static let period: UInt64 = 100_000
    /// The kernel refuses a bandwidth quota under 1 ms.
    static let minQuota: UInt64 = 1000
    static let defaultWeight = 100

    public init(root: String = "/sys/fs/cgroup") {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    func directory(_ path: String) throws -> String {
        try CgroupFS.validate(path)
        return root + "/" + path
    }

    // MARK: - Creating and removing

    public func create(_ path: String) throws {
        var current = root
        var created: [String] = []
        do {
            for name in try CgroupFS.validate(path) {
                try enableControllers(in: current)
                current += "/" + name
                if try CgroupFS.makeDirectory(current) { created.append(current) }
            }
        } catch {
            for dir in created.reversed() { try? CgroupFS.removeDirectory(dir) }
            throw error
        }
    }

    /// Enables berth's controllers for the children of `dir`, those that `dir` offers
    /// and has not enabled yet, in one write.
    func enableControllers(in dir: String) throws {
        let available = try CgroupFS.readValue(dir + "/cgroup.controllers").split(separator: " ").map(String.init)
        let enabled = Set(try CgroupFS.readValue(dir + "/cgroup.subtree_control").split(separator: " ").map(String.init))
        let missing = available.filter { Self.controllers.contains($0) && !enabled.contains($0) }
        guard !missing.isEmpty else { return }
        try CgroupFS.write(missing.map { "+" + $0 }.joined(separator: " "), to: dir + "/cgroup.subtree_control")
    }

    public func exists(_ path: String) -> Bool {
        guard let dir = try? directory(path) else { return false }
        return CgroupFS.isDirectory(dir)
    }

    public func directories(of path: String) -> [String] { [root + "/" + path] }

    public func children(of path: String) throws -> [String] {
        try CgroupFS.subdirectories(of: try directory(path))
    }

    public func remove(_ path: String) throws {
        for dir in try CgroupFS.subtreeDeepestFirst(try directory(path)) {
            try CgroupFS.removeDirectory(dir)
        }
    }

    // MARK: - Limits

    public func apply(_ limits: CgroupLimits, to path: String) throws {
        let dir = try directory(path)
        let files = InterfaceFiles(dir: dir)

        if let m = limits.cpuMillicores {
            try files.set("cpu.max", "\(Self.quota(millicores: m)) \(Self.period)", controller: "cpu")
        } else {
            try files.reset("cpu.max", "max \(Self.period)")
        }
        if let w = limits.cpuWeight {
            try files.set("cpu.weight", String(w), controller: "cpu")
        } else {
            try files.reset("cpu.weight", String(Self.defaultWeight))
        }
        if let cpus = limits.cpuset {
            try files.set("cpuset.cpus", cpus, controller: "cpuset")
        } else {
            // An empty cpuset.cpus uses the parent's CPUs.
            try files.reset("cpuset.cpus", "")
        }
        if let bytes = limits.memoryBytes {
            try files.set("memory.max", String(bytes), controller: "memory")
        } else {
            try files.reset("memory.max", "max")
        }
        if let bytes = limits.memorySwapBytes {
            guard CgroupFS.exists(dir + "/memory.swap.max") else {
                throw KernelError(
                    "write \(dir)/memory.swap.max (\"\(bytes)\")", "",
                    detail: CgroupFS.exists(dir + "/memory.max")
                        ? "swap accounting is off on this kernel (CONFIG_SWAP or swapaccount), so memorySwap cannot be limited"
                        : "the memory controller is not enabled in the parent's cgroup.subtree_control")
            }
            try files.set("memory.swap.max", String(bytes), controller: "memory")
        } else {
            try files.reset("memory.swap.max", "max")
        }
        if let n = limits.pids {
            try files.set("pids.max", String(n), controller: "pids")
        } else {
            try files.reset("pids.max", "max")
        }
        try applyIO(limits.io, files: files)
    }

    func applyIO(_ wanted: [IOThrottle], files: InterfaceFiles) throws {
        let file = files.dir + "/io.max"
        let wanted = try IOLines.checkedUnique(wanted, file: file)
        let current = CgroupFS.exists(file) ? try Self.parseIO(CgroupFS.read(file), file: file) : []
        for line in Self.ioMaxWrites(current: current, wanted: wanted) {
            try files.set("io.max", line, controller: "io")
        }
    }

    /// The io.max lines that turn `current` into `wanted`, one write each: devices no
    /// longer wanted get every key set to max (which drops the kernel's entry), then
    /// each wanted device gets all four keys, so that a key no longer limited is reset too.
    static func ioMaxWrites(current: [IOThrottle], wanted: [IOThrottle]) -> [String] {
        let wanted = IOLines.sorted(wanted.filter { !$0.isUnlimited })
        let keep = Set(wanted.map(\.device))
        let removals = IOLines.sorted(current).filter { !keep.contains($0.device) }
            .map { ioLine(IOThrottle(major: $0.major, minor: $0.minor)) }
        return removals + wanted.map(ioLine)
    }

    static func ioLine(_ t: IOThrottle) -> String {
        func v(_ x: UInt64?) -> String { x.map(String.init) ?? "max" }
        return "\(t.device) rbps=\(v(t.readBps)) wbps=\(v(t.writeBps)) riops=\(v(t.readIops)) wiops=\(v(t.writeIops))"
    }

    /// io.max lines: "MAJ:MIN rbps=N wbps=max riops=max wiops=max"; devices without a limit are left out.
    static func parseIO(_ text: String, file: String) throws -> [IOThrottle] {
        var out: [IOThrottle] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let (major, minor) = IOLines.device(fields.first) else {
                throw CgroupFS.parseError(file, String(line), "is not an io.max line")
            }
            var t = IOThrottle(major: major, minor: minor)
            for field in fields.dropFirst() {
                let kv = field.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                let value: UInt64?
                if kv[1] == "max" { value = nil } else if let n = UInt64(kv[1]) { value = n } else {
                    throw CgroupFS.parseError(file, String(line), "is not an io.max line")
                }
                switch kv[0] {
                case "rbps": t.readBps = value
                case "wbps": t.writeBps = value
                case "riops": t.readIops = value
                case "wiops": t.writeIops = value
                default: break // keys of newer kernels berth does not set
                }
            }
            if !t.isUnlimited { out.append(t) }
        }
        return IOLines.sorted(out)
    }

    static func quota(millicores: Int) -> UInt64 {
        max(UInt64(max(millicores, 0)) * period / 1000, minQuota)
    }

    public func limits(of path: String) throws -> CgroupLimits {
        let dir = try directory(path)
        let files = InterfaceFiles(dir: dir)
        try files.requireCgroup()
        var l = CgroupLimits()
        if let text = try files.readIfPresent("cpu.max") {
            let parts = text.split(separator: " ")
            guard parts.count == 2, let period = UInt64(parts[1]), period > 0 else {
                throw CgroupFS.parseError(dir + "/cpu.max", text, "is not \"QUOTA PERIOD\"")
            }
            if parts[0] != "max" {
                guard let quota = UInt64(parts[0]) else {
                    throw CgroupFS.parseError(dir + "/cpu.max", text, "is not \"QUOTA PERIOD\"")
                }
                l.cpuMillicores = Int((quota * 1000 + period / 2) / period)
            }
        }
        if let text = try files.readIfPresent("cpu.weight") {
            guard let w = Int(text) else { throw CgroupFS.parseError(dir + "/cpu.weight", text, "is not a number") }
            l.cpuWeight = w == Self.defaultWeight ? nil : w
        }
        if let text = try files.readIfPresent("cpuset.cpus"), !text.isEmpty {
            l.cpuset = text
        }
        l.memoryBytes = try files.limitIfPresent("memory.max")
        l.memorySwapBytes = try files.limitIfPresent("memory.swap.max")
        l.pids = try files.limitIfPresent("pids.max").map { Int(clamping: $0) }
        if CgroupFS.exists(dir + "/io.max") {
            l.io = try Self.parseIO(CgroupFS.read(dir + "/io.max"), file: dir + "/io.max")
        }
        return l
    }

    public func normalized(_ limits: CgroupLimits) -> CgroupLimits {
        var l = limits
        l.cpuMillicores = limits.cpuMillicores.map { Int(Self.quota(millicores: $0) * 1000 / Self.period) }
        l.cpuWeight = limits.cpuWeight == Self.defaultWeight ? nil : limits.cpuWeight
        l.cpuset = limits.cpuset.map(CPUList.canonical).flatMap { $0.isEmpty ? nil : $0 }
        l.memoryBytes = limits.memoryBytes.flatMap(MemoryBytes.normalized)
        l.memorySwapBytes = limits.memorySwapBytes.flatMap(MemoryBytes.normalized)
        l.io = IOLines.sorted(limits.io.filter { !$0.isUnlimited })
        return l
    }

    // MARK: - Usage and processes

    public func usage(of path: String) throws -> CgroupUsage {
        let dir = try directory(path)
        let files = InterfaceFiles(dir: dir)
        try files.requireCgroup()
        var u = CgroupUsage()
        u.memoryCurrent = try files.numberIfPresent("memory.current")
        u.memoryPeak = try files.numberIfPresent("memory.peak")
        if let stat = try files.keyedIfPresent("cpu.stat") {
            u.cpuUsageNanos = stat["usage_usec"].map { $0 * 1000 }
            u.throttledPeriods = stat["nr_throttled"]
            u.throttledNanos = stat["throttled_usec"].map { $0 * 1000 }
        }
        u.pidsCurrent = try files.numberIfPresent("pids.current").map { Int(clamping: $0) }
        if let events = try files.keyedIfPresent("memory.events") {
            u.oomKills = events["oom_kill"].map { Int(clamping: $0) }
        }
        return u
    }

    public func addProcess(_ pid: Int32, to path: String) throws {
        // Created inside it (spawnTarget): a write would wait for the RCU grace period anyway.
        if try contains(pid, in: path) { return }
        try CgroupFS.write(String(pid), to: try directory(path) + "/cgroup.procs")
    }

    public func spawnTarget(_ path: String) throws -> FileDescriptor? {
        try ProcFS.openFile(try directory(path), .readOnly, options: [.directory])
    }

    public func processes(in path: String) throws -> [Int32] {
        try CgroupFS.readPids(try directory(path) + "/cgroup.procs").sorted()
    }

    public func killAll(in path: String, timeout: Duration) throws {
        let dir = try directory(path)
        guard CgroupFS.isDirectory(dir) else { return }
        let members = { () throws -> [Int32] in
            var pids: [Int32] = []
            for cgroup in try CgroupFS.subtreeDeepestFirst(dir) {
                do {
                    pids += try CgroupFS.readPids(cgroup + "/cgroup.procs")
                } catch let e as KernelError where e.errno == .noSuchFileOrDirectory {
                    continue // removed while we looked
                }
            }
            return pids
        }
        if CgroupFS.exists(dir + "/cgroup.kill") {
            // Linux 5.14+: the kernel kills the whole subtree, forks included.
            try CgroupFS.write("1", to: dir + "/cgroup.kill")
            let deadline = ContinuousClock.now.advanced(by: timeout)
            if try CgroupFS.poll(until: deadline, { try members().isEmpty }) { return }
            let left = try members()
            throw KernelError(
                "kill all processes in \(dir)", "",
                detail: "\(left.count) still there after \(timeout): \(left.prefix(10).map(String.init).joined(separator: " "))")
        }
        let canFreeze = CgroupFS.exists(dir + "/cgroup.freeze")
        let killer = CgroupKiller(
            members: members,
            freeze: canFreeze ? {
                try CgroupFS.write("1", to: dir + "/cgroup.freeze")
                // cgroup.events says "frozen 1" once every process has stopped.
                _ = CgroupFS.poll(until: ContinuousClock.now.advanced(by: .milliseconds(500))) {
                    (try? CgroupFS.readKeyed(dir + "/cgroup.events"))?["frozen"] == 1
                }
            } : nil,
            thaw: canFreeze ? { try CgroupFS.write("0", to: dir + "/cgroup.freeze") } : nil)
        try killer.run(path: dir, timeout: timeout)
    }
}

/// The interface files of one cgroup directory.
struct InterfaceFiles {
    var dir: String

    /// Fails when the cgroup itself is missing, so that absent interface files can mean
    /// "controller not enabled" rather than "no such cgroup".
    func requireCgroup() throws {
        guard CgroupFS.isDirectory(dir) else {
            throw KernelError("read \(dir)", "", errno: .noSuchFileOrDirectory)
        }
    }

    /// Writes a limit; a missing file means the controller is not there, said plainly.
    func set(_ name: String, _ value: String, controller: String) throws {
        let path = dir + "/" + name
        do {
            try CgroupFS.write(value, to: path)
        } catch var e as KernelError where e.errno == .noSuchFileOrDirectory && CgroupFS.isDirectory(dir) {
            e.detail = "the \(controller) controller is not available for this cgroup"
            throw e
        }
    }

    /// Writes a default; a file that is not there has nothing to reset.
    func reset(_ name: String, _ value: String) throws {
        let path = dir + "/" + name
        guard CgroupFS.exists(path) else {
            try requireCgroup()
            return
        }
        try CgroupFS.write(value, to: path)
    }

    func readIfPresent(_ name: String) throws -> String? {
        let path = dir + "/" + name
        guard CgroupFS.exists(path) else { return nil }
        return try CgroupFS.readValue(path)
    }

    func limitIfPresent(_ name: String) throws -> UInt64? {
        let path = dir + "/" + name
        guard CgroupFS.exists(path) else { return nil }
        return try CgroupFS.readLimit(path)
    }

    func numberIfPresent(_ name: String) throws -> UInt64? {
        let path = dir + "/" + name
        guard CgroupFS.exists(path) else { return nil }
        return try CgroupFS.readUInt64(path)
    }

    func keyedIfPresent(_ name: String) throws -> [String: UInt64]? {
        let path = dir + "/" + name
        guard CgroupFS.exists(path) else { return nil }
        return try CgroupFS.readKeyed(path)
    }
}

/// Memory limits as the kernel keeps them: whole pages, rounded down, and values at
/// or above its ceiling mean "no limit".
enum MemoryBytes {
    /// PAGE_COUNTER_MAX pages, the kernel's "unlimited" (v1 prints it as 9223372036854771712 on 4 KiB pages).
    static var unlimited: UInt64 { UInt64(Int64.max) / CgroupFS.pageSize * CgroupFS.pageSize }

    static func normalized(_ bytes: UInt64) -> UInt64? {
        let r = CgroupFS.pageRounded(bytes)
        return r >= unlimited ? nil : r
    }
}

/// Helpers shared by io.max (v2) and blkio.throttle.* (v1).
enum IOLines {
    static func device(_ field: Substring?) -> (UInt32, UInt32)? {
        guard let field else { return nil }
        let parts = field.split(separator: ":")
        guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else { return nil }
        return (major, minor)
    }

    static func sorted(_ io: [IOThrottle]) -> [IOThrottle] {
        io.sorted { ($0.major, $0.minor) < ($1.major, $1.minor) }
    }

    /// Two throttles for one device would overwrite each other: refuse them.
    static func checkedUnique(_ io: [IOThrottle], file: String) throws -> [IOThrottle] {
        var seen = Set<String>()
        for t in io where !seen.insert(t.device).inserted {
            throw KernelError("write \(file)", "", detail: "device \(t.device) is listed twice")
        }
        return io
    }
}
