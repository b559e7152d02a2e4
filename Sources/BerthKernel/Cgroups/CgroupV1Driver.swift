/// The cgroup v1 driver, for legacy hosts and hybrid ones (v1 controllers plus an
/// empty cgroup2 mount, which holds nothing of berth's).
///
/// A cgroup lives in every hierarchy berth uses: cpu, cpuacct, cpuset, memory,
/// pids, blkio, freezer and devices, whether each has its own mount or some share
/// one ("cpu,cpuacct"). devices holds the container's device policy (CgroupDevices.swift).
public struct CgroupV1Driver: CgroupDriver {
    public let mode: CgroupMode
    /// The hierarchies berth uses, one per mount point.
    public let hierarchies: [CgroupV1Hierarchy]

    /// The v1 controllers berth creates its cgroups in.
    public static let controllers: Set<String> = [
        "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices",
    ]
    static let period: Int64 = 100_000
    static let minQuota: Int64 = 1000

    /// - Parameter hierarchies: the host's v1 hierarchies; those without any of
    ///   berth's controllers are ignored.
    public init(hierarchies: [CgroupV1Hierarchy], mode: CgroupMode = .legacy) {
        self.hierarchies = hierarchies.filter { !Self.controllers.isDisjoint(with: $0.controllers) }
        self.mode = mode
    }

    /// The driver for the v1 hierarchies mounted under `root`, as mountinfo describes them.
    public init(mountinfo: String, root: String = "/sys/fs/cgroup") throws {
        let layout = try CgroupLayout(mountinfo: mountinfo, root: root)
        guard layout.mode != .unified else {
            throw KernelError("detect cgroups", root, detail: "no cgroup v1 controller is mounted there (the host is unified)")
        }
        self.init(hierarchies: layout.v1Hierarchies, mode: layout.mode)
    }

    /// The mount point of a controller's hierarchy.
    func mountPoint(_ controller: String) -> String? {
        hierarchies.first { $0.controllers.contains(controller) }?.mountPoint
    }

    /// The cgroup's directory in a controller's hierarchy; nil when it is not mounted.
    func directory(_ controller: String, _ path: String) -> String? {
        mountPoint(controller).map { $0 + "/" + path }
    }

    /// The cgroup's directory in a controller's hierarchy when it exists there; reads
    /// skip a hierarchy the cgroup is missing from (an interrupted create), so that
    /// observing shows the fields as unset instead of failing.
    func existingDirectory(_ controller: String, _ path: String) -> String? {
        directory(controller, path).flatMap { CgroupFS.isDirectory($0) ? $0 : nil }
    }

    func notMounted(_ controller: String, _ what: String) -> KernelError {
        KernelError("set \(what)", "", detail: "the \(controller) cgroup controller is not mounted")
    }

    // MARK: - Creating and removing

    public func create(_ path: String) throws {
        let components = try CgroupFS.validate(path)
        var created: [String] = []
        do {
            for h in hierarchies {
                var current = h.mountPoint
                for name in components {
                    let parent = current
                    current += "/" + name
                    if try CgroupFS.makeDirectory(current) { created.append(current) }
                    if h.controllers.contains("cpuset") {
                        try Self.copyCpusetIfEmpty(current, from: parent)
                    }
                }
            }
        } catch {
            // Leave nothing half made: a cgroup in some hierarchies only would confuse observe.
            for dir in created.reversed() { try? CgroupFS.removeDirectory(dir) }
            throw error
        }
    }

    /// A new v1 cpuset cgroup has no CPUs and no memory nodes, and takes no process
    /// until it has both: give it the parent's.
    static func copyCpusetIfEmpty(_ dir: String, from parent: String) throws {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if try CgroupFS.readValue(dir + "/" + file).isEmpty {
                try CgroupFS.write(try CgroupFS.readValue(parent + "/" + file), to: dir + "/" + file)
            }
        }
    }

    public func exists(_ path: String) -> Bool {
        guard (try? CgroupFS.validate(path)) != nil else { return false }
        return hierarchies.contains { CgroupFS.isDirectory($0.mountPoint + "/" + path) }
    }

    public func directories(of path: String) -> [String] {
        hierarchies.map { $0.mountPoint + "/" + path }
    }

    public func children(of path: String) throws -> [String] {
        try CgroupFS.validate(path)
        var names = Set<String>()
        var found = false
        for h in hierarchies where CgroupFS.isDirectory(h.mountPoint + "/" + path) {
            found = true
            names.formUnion(try CgroupFS.subdirectories(of: h.mountPoint + "/" + path))
        }
        guard found else {
            throw KernelError("list \(hierarchies.first.map { $0.mountPoint + "/" } ?? "")\(path)", "", errno: .noSuchFileOrDirectory)
        }
        return names.sorted()
    }

    public func remove(_ path: String) throws {
        try CgroupFS.validate(path)
        var failure: Error?
        for h in hierarchies {
            do {
                for dir in try CgroupFS.subtreeDeepestFirst(h.mountPoint + "/" + path) {
                    try CgroupFS.removeDirectory(dir)
                }
            } catch {
                failure = failure ?? error // still try the other hierarchies
            }
        }
        if let failure { throw failure }
    }

    // MARK: - Limits

    public func apply(_ limits: CgroupLimits, to path: String) throws {
        try CgroupFS.validate(path)
        try requireCgroup(path)
        try applyCPU(limits, path)
        try applyCpuset(limits.cpuset, path)
        try applyMemory(limits, path)
        if let dir = directory("pids", path) {
            try CgroupFS.write(limits.pids.map(String.init) ?? "max", to: dir + "/pids.max")
        } else if limits.pids != nil {
            throw notMounted("pids", "pids")
        }
        try applyIO(limits.io, path)
    }

    func applyCPU(_ limits: CgroupLimits, _ path: String) throws {
        guard let dir = directory("cpu", path) else {
            if limits.cpuMillicores != nil { throw notMounted("cpu", "cpus") }
            if limits.cpuWeight != nil { throw notMounted("cpu", "cpuWeight") }
            return
        }
        let quota = limits.cpuMillicores.map(Self.quota) ?? -1
        do {
            try CgroupFS.write(String(Self.period), to: dir + "/cpu.cfs_period_us")
            try CgroupFS.write(String(quota), to: dir + "/cpu.cfs_quota_us")
        } catch let e as KernelError where e.errno == .invalidArgument {
            // The kernel checks quota/period against the parent's bandwidth after each
            // write, so a new period can be refused until the new quota is in (runc does the same).
            try CgroupFS.write(String(quota), to: dir + "/cpu.cfs_quota_us")
            try CgroupFS.write(String(Self.period), to: dir + "/cpu.cfs_period_us")
        }
        if let w = limits.cpuWeight, !(1...10_000).contains(w) {
            // v2 would refuse it; the conversion would clamp it and leave drift behind.
            throw KernelError("write \(dir)/cpu.shares", "", detail: "cpuWeight \(w) is outside 1...10000")
        }
        let shares = CPUShares.shares(forWeight: limits.cpuWeight ?? CPUShares.defaultWeight)
        try CgroupFS.write(String(shares), to: dir + "/cpu.shares")
    }

    func applyCpuset(_ cpus: String?, _ path: String) throws {
        guard let dir = directory("cpuset", path) else {
            if cpus != nil { throw notMounted("cpuset", "cpuset") }
            return
        }
        // v1 has no "inherit": no cpuset means all of the parent's CPUs.
        let value = try cpus ?? CgroupFS.readValue(Self.parent(of: dir) + "/cpuset.cpus")
        try CgroupFS.write(value, to: dir + "/cpuset.cpus")
    }

    func applyMemory(_ limits: CgroupLimits, _ path: String) throws {
        guard let dir = directory("memory", path) else {
            if limits.memoryBytes != nil { throw notMounted("memory", "memory") }
            if limits.memorySwapBytes != nil { throw notMounted("memory", "memorySwap") }
            return
        }
        let limitFile = dir + "/memory.limit_in_bytes"
        let memswFile = dir + "/memory.memsw.limit_in_bytes"
        let hasMemsw = CgroupFS.exists(memswFile)
        let memory: Int64 = limits.memoryBytes.map { Int64(clamping: $0) } ?? -1
        var memsw: Int64 = -1
        if let swap = limits.memorySwapBytes {
            guard hasMemsw else {
                throw KernelError(
                    "write \(memswFile)", "",
                    detail: "swap accounting is off on this kernel (no memory.memsw.* files; boot with swapaccount=1), so memorySwap cannot be limited")
            }
            guard memory >= 0 else {
                throw KernelError(
                    "write \(memswFile) (\"\(swap)\")", "",
                    detail: "cgroup v1 limits memory plus swap together, so memorySwap needs memory to be set")
            }
            let (sum, overflow) = limits.memoryBytes!.addingReportingOverflow(swap)
            memsw = overflow ? -1 : Int64(clamping: sum)
        }
        guard hasMemsw else {
            try writeMemoryLimit(memory, limitFile, dir)
            return
        }
        // The kernel keeps memory <= memory+swap after every write: raise memsw first
        // when it will be at least the current memory limit, lower memory first otherwise
        // (the order runc's fs/memory.go uses).
        let current = try CgroupFS.readUInt64(limitFile)
        if memsw == -1 || UInt64(memsw) >= current {
            try CgroupFS.write(String(memsw), to: memswFile)
            try writeMemoryLimit(memory, limitFile, dir)
        } else {
            try writeMemoryLimit(memory, limitFile, dir)
            try CgroupFS.write(String(memsw), to: memswFile)
        }
    }

    /// EBUSY on memory.limit_in_bytes means the cgroup uses more than the new limit
    /// and the kernel could not reclaim enough: say so with the figures.
    func writeMemoryLimit(_ value: Int64, _ file: String, _ dir: String) throws {
        do {
            try CgroupFS.write(String(value), to: file)
        } catch var e as KernelError where e.errno == .resourceBusy {
            if let usage = try? CgroupFS.readUInt64(dir + "/memory.usage_in_bytes") {
                e.detail = "the cgroup uses \(usage) bytes, more than the new limit"
            }
            throw e
        }
    }

    static var blkioFiles: [(String, WritableKeyPath<IOThrottle, UInt64?>)] { [
        ("blkio.throttle.read_bps_device", \.readBps),
        ("blkio.throttle.write_bps_device", \.writeBps),
        ("blkio.throttle.read_iops_device", \.readIops),
        ("blkio.throttle.write_iops_device", \.writeIops),
    ] }

    func applyIO(_ io: [IOThrottle], _ path: String) throws {
        guard let dir = directory("blkio", path) else {
            if io.contains(where: { !$0.isUnlimited }) { throw notMounted("blkio", "io") }
            return
        }
        let wanted = try IOLines.checkedUnique(io, file: dir + "/blkio.throttle.*")
        for (name, key) in Self.blkioFiles {
            let file = dir + "/" + name
            let current = try Self.parseThrottleFile(CgroupFS.read(file), file: file)
            var values: [String: UInt64] = [:]
            for t in wanted {
                if let v = t[keyPath: key], v > 0 { values[t.device] = v }
            }
            // Writing 0 for a device removes its throttle.
            for device in current.keys.sorted() where values[device] == nil {
                try CgroupFS.write("\(device) 0", to: file)
            }
            for device in values.keys.sorted() {
                try CgroupFS.write("\(device) \(values[device]!)", to: file)
            }
        }
    }

    /// "MAJ:MIN VALUE" lines of a blkio.throttle.* file.
    static func parseThrottleFile(_ text: String, file: String) throws -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, IOLines.device(fields[0]) != nil, let v = UInt64(fields[1]) else {
                throw CgroupFS.parseError(file, String(line), "is not a \"MAJ:MIN VALUE\" line")
            }
            if v > 0 { out[String(fields[0])] = v }
        }
        return out
    }

    static func quota(millicores: Int) -> Int64 {
        max(Int64(max(millicores, 0)) * period / 1000, minQuota)
    }

    static func parent(of dir: String) -> String {
        String(dir[..<dir.lastIndex(of: "/")!])
    }

    /// Fails when the cgroup is in none of the hierarchies.
    func requireCgroup(_ path: String) throws {
        guard exists(path) else {
            let where_ = hierarchies.first.map { $0.mountPoint + "/" } ?? ""
            throw KernelError("read \(where_)\(path)", "", errno: .noSuchFileOrDirectory)
        }
    }

    public func limits(of path: String) throws -> CgroupLimits {
        try CgroupFS.validate(path)
        // Each hierarchy's directory opened once, its files read relative to it; a
        // hierarchy the cgroup is missing from (an interrupted create) is skipped, so
        // that observing shows the fields as unset instead of failing.
        var opened: [String: CgroupDirectory?] = [:]
        defer { for case let dir? in opened.values { dir.close() } }
        func directory(_ controller: String) throws -> CgroupDirectory? {
            guard let mount = mountPoint(controller) else { return nil }
            if let known = opened[mount] { return known }
            let dir = try CgroupDirectory.open(mount + "/" + path)
            opened[mount] = dir
            return dir
        }
        var l = CgroupLimits()
        if let dir = try directory("cpu") {
            let quota = try dir.readValue("cpu.cfs_quota_us")
            guard let q = Int64(quota) else {
                throw CgroupFS.parseError(dir.path + "/cpu.cfs_quota_us", quota, "is not a number")
            }
            if q >= 0 {
                let period = try dir.readUInt64("cpu.cfs_period_us")
                if period > 0 { l.cpuMillicores = Int((UInt64(q) * 1000 + period / 2) / period) }
            }
            let shares = try dir.readUInt64("cpu.shares")
            let weight = CPUShares.weight(forShares: shares)
            l.cpuWeight = shares == CPUShares.defaultShares ? nil : weight
        }
        if let dir = try directory("cpuset") {
            let cpus = try dir.readValue("cpuset.cpus")
            // The parent's, relative to this directory: two steps of a path walk, not seven.
            let parentCpus = try dir.readValue("../cpuset.cpus")
            l.cpuset = cpus == parentCpus ? nil : cpus
        }
        if let dir = try directory("memory") {
            let memory = try dir.readUInt64("memory.limit_in_bytes")
            l.memoryBytes = memory >= MemoryBytes.unlimited ? nil : memory
            // Without swap accounting the kernel has no memsw files.
            if let text = try dir.read("memory.memsw.limit_in_bytes", optional: true) {
                let value = text.trimmingSpaces()
                guard let memsw = UInt64(value) else {
                    throw CgroupFS.parseError(dir.path + "/memory.memsw.limit_in_bytes", value, "is not a number")
                }
                if memsw < MemoryBytes.unlimited {
                    // With memory unlimited a limited memsw has no "beyond memory": show it whole.
                    l.memorySwapBytes = l.memoryBytes.map { memsw >= $0 ? memsw - $0 : 0 } ?? memsw
                }
            }
        }
        if let dir = try directory("pids") {
            l.pids = try dir.readLimit("pids.max").map { Int(clamping: $0) }
        }
        if let dir = try directory("blkio") {
            var byDevice: [String: IOThrottle] = [:]
            for (name, key) in Self.blkioFiles {
                for (device, value) in try Self.parseThrottleFile(dir.read(name)!, file: dir.path + "/" + name) {
                    let (major, minor) = IOLines.device(Substring(device))!
                    byDevice[device, default: IOThrottle(major: major, minor: minor)][keyPath: key] = value
                }
            }
            l.io = IOLines.sorted(Array(byDevice.values))
        }
        if !opened.values.contains(where: { $0 != nil }) {
            // In none of the hierarchies that hold limits: it exists elsewhere, or not at all.
            try requireCgroup(path)
        }
        return l
    }

    public func normalized(_ limits: CgroupLimits) -> CgroupLimits {
        var l = limits
        l.cpuMillicores = limits.cpuMillicores.map { Int(Self.quota(millicores: $0) * 1000 / Self.period) }
        l.cpuWeight = limits.cpuWeight.flatMap { w in
            let shares = CPUShares.shares(forWeight: w)
            return shares == CPUShares.defaultShares ? nil : CPUShares.weight(forShares: shares)
        }
        // A cpuset of every CPU the hierarchy has is what "no cpuset" writes.
        let all = mountPoint("cpuset").flatMap { try? CgroupFS.readValue($0 + "/cpuset.cpus") }
        l.cpuset = limits.cpuset.map(CPUList.canonical).flatMap { $0.isEmpty || $0 == all ? nil : $0 }
        l.memoryBytes = limits.memoryBytes.flatMap(MemoryBytes.normalized)
        if let memory = limits.memoryBytes, let swap = limits.memorySwapBytes, let m = l.memoryBytes {
            // memsw is rounded to pages on its own, as memory + swap.
            let (sum, overflow) = memory.addingReportingOverflow(swap)
            l.memorySwapBytes = overflow ? nil : MemoryBytes.normalized(sum).map { $0 - m }
        }
        l.io = IOLines.sorted(limits.io.map { t in
            var t = t
            for (_, key) in Self.blkioFiles where t[keyPath: key] == 0 { t[keyPath: key] = nil }
            return t
        }.filter { !$0.isUnlimited })
        return l
    }

    // MARK: - Usage and processes

    public func usage(of path: String) throws -> CgroupUsage {
        try CgroupFS.validate(path)
        try requireCgroup(path)
        var u = CgroupUsage()
        if let dir = existingDirectory("memory", path) {
            u.memoryCurrent = try CgroupFS.readUInt64(dir + "/memory.usage_in_bytes")
            u.memoryPeak = try CgroupFS.readUInt64(dir + "/memory.max_usage_in_bytes")
            u.oomKills = try CgroupFS.readKeyed(dir + "/memory.oom_control")["oom_kill"].map { Int(clamping: $0) }
        }
        if let dir = existingDirectory("cpuacct", path) {
            u.cpuUsageNanos = try CgroupFS.readUInt64(dir + "/cpuacct.usage")
        }
        if let dir = existingDirectory("cpu", path) {
            let stat = try CgroupFS.readKeyed(dir + "/cpu.stat")
            u.throttledPeriods = stat["nr_throttled"]
            u.throttledNanos = stat["throttled_time"]
        }
        if let dir = existingDirectory("pids", path) {
            u.pidsCurrent = try Int(clamping: CgroupFS.readUInt64(dir + "/pids.current"))
        }
        return u
    }

    public func addProcess(_ pid: Int32, to path: String) throws {
        try CgroupFS.validate(path)
        for h in hierarchies {
            try CgroupFS.write(String(pid), to: h.mountPoint + "/" + path + "/cgroup.procs")
        }
    }

    /// The processes in the cgroup in any of berth's hierarchies (a process moved
    /// out of one by hand is still found).
    public func processes(in path: String) throws -> [Int32] {
        try CgroupFS.validate(path)
        try requireCgroup(path)
        var pids = Set<Int32>()
        for h in hierarchies where CgroupFS.isDirectory(h.mountPoint + "/" + path) {
            pids.formUnion(try CgroupFS.readPids(h.mountPoint + "/" + path + "/cgroup.procs"))
        }
        return pids.sorted()
    }

    public func contains(_ pid: Int32, in path: String) throws -> Bool {
        try CgroupFS.validate(path)
        var found = false
        for h in hierarchies {
            guard let dir = try CgroupDirectory.open(h.mountPoint + "/" + path) else { continue }
            defer { dir.close() }
            found = true
            if try dir.readPids().contains(pid) { return true }
        }
        if !found { try requireCgroup(path) }
        return false
    }

    public func killAll(in path: String, timeout: Duration) throws {
        try CgroupFS.validate(path)
        guard exists(path) else { return }
        let members = { () throws -> [Int32] in
            var pids = Set<Int32>()
            for h in hierarchies {
                for cgroup in try CgroupFS.subtreeDeepestFirst(h.mountPoint + "/" + path) {
                    do {
                        pids.formUnion(try CgroupFS.readPids(cgroup + "/cgroup.procs"))
                    } catch let e as KernelError where e.errno == .noSuchFileOrDirectory {
                        continue // removed while we looked
                    }
                }
            }
            return pids.sorted()
        }
        var freeze: (() throws -> Void)?
        var thaw: (() throws -> Void)?
        if let dir = directory("freezer", path), CgroupFS.exists(dir + "/freezer.state") {
            let state = dir + "/freezer.state"
            freeze = {
                try CgroupFS.write("FROZEN", to: state)
                // FREEZING until every task (descendants included) has stopped.
                _ = try CgroupFS.poll(until: ContinuousClock.now.advanced(by: .milliseconds(500))) {
                    try CgroupFS.readValue(state) == "FROZEN"
                }
            }
            thaw = { try CgroupFS.write("THAWED", to: state) }
        }
        try CgroupKiller(members: members, freeze: freeze, thaw: thaw).run(path: path, timeout: timeout)
    }
}
