import Foundation
import Testing
@testable import BerthKernel

/// The v1 driver against this host's real v1 hierarchies. Every test works under
/// its own top-level cgroup "berth-test-<test>-<pid>-<random>" and removes it, also on failure.
@Suite("Cgroup v1 driver (real kernel)", .enabled(if: CgroupTestSupport.canUseHostV1, "needs root and cgroup v1 controllers"))
struct CgroupV1DriverTests {
    let driver = CgroupTestSupport.hostV1!

    /// A disk of this host, for blkio throttles (the kernel refuses devices that do not exist).
    static let disk: (UInt32, UInt32) = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        for name in names.sorted() where !["loop", "ram", "zram"].contains(where: name.hasPrefix) {
            let dev = CgroupTestSupport.contents("/sys/block/\(name)/dev").trimmingCharacters(in: .whitespacesAndNewlines)
            let parts = dev.split(separator: ":").compactMap { UInt32($0) }
            if parts.count == 2 { return (parts[0], parts[1]) }
        }
        return (0, 0)
    }()

    /// Runs `body` with a fresh top-level cgroup name; kills and removes it afterwards.
    func withTop(_ test: String, _ body: (String) throws -> Void) throws {
        let top = CgroupTestSupport.uniqueName(test)
        defer {
            try? driver.killAll(in: top, timeout: .seconds(10))
            try? driver.remove(top)
        }
        try body(top)
        try driver.killAll(in: top, timeout: .seconds(10))
        try driver.remove(top)
        #expect(!driver.exists(top))
        for h in driver.hierarchies {
            #expect(!FileManager.default.fileExists(atPath: h.mountPoint + "/" + top), "left in \(h.mountPoint)")
        }
    }

    func file(_ controller: String, _ path: String, _ name: String) -> String {
        CgroupTestSupport.contents(driver.directory(controller, path)! + "/" + name)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func createMakesTheCgroupInEveryHierarchyWithAUsableCpuset() throws {
        try withTop("create") { top in
            let path = top + "/p/c"
            try driver.create(path)
            try driver.create(path) // again: fine
            for h in driver.hierarchies {
                #expect(FileManager.default.fileExists(atPath: h.mountPoint + "/" + path + "/cgroup.procs"))
            }
            let root = driver.mountPoint("cpuset")!
            let rootCpus = CgroupTestSupport.contents(root + "/cpuset.cpus").trimmingCharacters(in: .whitespacesAndNewlines)
            let rootMems = CgroupTestSupport.contents(root + "/cpuset.mems").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!rootCpus.isEmpty)
            #expect(file("cpuset", path, "cpuset.cpus") == rootCpus)
            #expect(file("cpuset", path, "cpuset.mems") == rootMems)
            #expect(try driver.children(of: top) == ["p"])
            #expect(try driver.children(of: top + "/p") == ["c"])
            #expect(driver.exists(path))
            // A fresh cgroup has no limits.
            #expect(try driver.limits(of: path) == CgroupLimits())
        }
    }

    @Test func everyFieldIsWrittenReadBackAndChangedLive() throws {
        try withTop("limits") { top in
            let path = top + "/c"
            try driver.create(path)
            let (major, minor) = Self.disk
            let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
            let limits = CgroupLimits(
                cpuMillicores: 500, cpuWeight: 200, cpuset: "0", memoryBytes: 64 << 20 + 1, memorySwapBytes: 16 << 20,
                pids: 50, io: [IOThrottle(major: major, minor: minor, readBps: 1 << 20, writeBps: 2 << 20,
                                          readIops: 100, writeIops: 200)])
            try driver.apply(limits, to: path)

            #expect(file("cpu", path, "cpu.cfs_period_us") == "100000")
            #expect(file("cpu", path, "cpu.cfs_quota_us") == "50000")
            #expect(file("cpu", path, "cpu.shares") == String(CPUShares.shares(forWeight: 200)))
            #expect(file("cpuset", path, "cpuset.cpus") == "0")
            #expect(file("memory", path, "memory.limit_in_bytes") == String((64 << 20 + 1) / page * page))
            #expect(file("memory", path, "memory.memsw.limit_in_bytes") == String((80 << 20 + 1) / page * page))
            #expect(file("pids", path, "pids.max") == "50")
            #expect(file("blkio", path, "blkio.throttle.read_bps_device") == "\(major):\(minor) 1048576")
            #expect(file("blkio", path, "blkio.throttle.write_bps_device") == "\(major):\(minor) 2097152")
            #expect(file("blkio", path, "blkio.throttle.read_iops_device") == "\(major):\(minor) 100")
            #expect(file("blkio", path, "blkio.throttle.write_iops_device") == "\(major):\(minor) 200")

            let seen = try driver.limits(of: path)
            #expect(seen == driver.normalized(limits))
            #expect(seen.memoryBytes == 64 << 20)             // rounded down to the page
            #expect(seen.cpuWeight == 200)                    // weight -> shares -> weight

            // Live changes: cpus up, weight back to default, another cpuset, memory down,
            // swap up, pids up, one io key dropped.
            var changed = limits
            changed.cpuMillicores = 1500
            changed.cpuWeight = nil
            changed.cpuset = "1"
            changed.memoryBytes = 32 << 20
            changed.memorySwapBytes = 64 << 20
            changed.pids = 500
            changed.io[0].writeIops = nil
            try driver.apply(changed, to: path)
            #expect(try driver.limits(of: path) == driver.normalized(changed))
            #expect(file("cpu", path, "cpu.shares") == "1024")
            #expect(file("blkio", path, "blkio.throttle.write_iops_device") == "")

            // Everything back to unlimited and defaults.
            try driver.apply(CgroupLimits(), to: path)
            #expect(try driver.limits(of: path) == CgroupLimits())
            #expect(file("cpu", path, "cpu.cfs_quota_us") == "-1")
            #expect(file("cpuset", path, "cpuset.cpus") == file("cpuset", top, "cpuset.cpus"))
            #expect(file("pids", path, "pids.max") == "max")
            #expect(file("blkio", path, "blkio.throttle.read_bps_device") == "")
        }
    }

    static let mib: UInt64 = 1 << 20
    static let memorySteps: [[[UInt64]]] = [
        [[100 * mib, 100 * mib], [300 * mib, 0], [50 * mib, 10 * mib], [400 * mib, 1024 * mib]],
        [[8 * mib, 0], [1024 * mib, 0], [16 * mib, 0]],
    ]

    /// memory <= memory+swap must hold after each write; both directions work.
    @Test(arguments: memorySteps)
    func memoryAndSwapInEitherOrder(steps: [[UInt64]]) throws {
        try withTop("memsw") { top in
            try driver.create(top)
            for step in steps {
                let (memory, swap) = (step[0], step[1])
                let limits = CgroupLimits(memoryBytes: memory, memorySwapBytes: swap)
                try driver.apply(limits, to: top)
                #expect(try driver.limits(of: top) == driver.normalized(limits))
            }
            // Swap back to unlimited while memory stays limited, then memory unlimited too.
            try driver.apply(CgroupLimits(memoryBytes: 20 << 20), to: top)
            #expect(try driver.limits(of: top) == CgroupLimits(memoryBytes: 20 << 20))
            try driver.apply(CgroupLimits(), to: top)
            #expect(try driver.limits(of: top) == CgroupLimits())
        }
    }

    @Test func swapWithoutMemoryIsRefusedOnV1() throws {
        try withTop("swaponly") { top in
            try driver.create(top)
            let error = try #require(throws: KernelError.self) {
                try driver.apply(CgroupLimits(memorySwapBytes: 1 << 20), to: top)
            }
            #expect(error.description.contains("memorySwap needs memory"))
        }
    }

    @Test func errorsNameTheFileAndTheValue() throws {
        try withTop("errors") { top in
            try driver.create(top)
            let error = try #require(throws: KernelError.self) {
                try driver.apply(CgroupLimits(cpuset: "4095"), to: top) // a CPU this host does not have
            }
            let file = driver.directory("cpuset", top)! + "/cpuset.cpus"
            let errno = try #require(error.errno)
            #expect(error.description == "write \(file) (\"4095\"): \(errno)")
            let weight = try #require(throws: KernelError.self) {
                try driver.apply(CgroupLimits(cpuWeight: 0), to: top)
            }
            #expect(weight.description.hasSuffix("cpu.shares: cpuWeight 0 is outside 1...10000"))
        }
    }

    @Test func processesAreAddedToEveryHierarchyAndUsageIsRead() throws {
        try withTop("procs") { top in
            try driver.create(top)
            let shell = try GatedShell("i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; exec busybox sleep 1000")
            defer { shell.stop() }
            try driver.addProcess(shell.pid, to: top)
            shell.release()
            #expect(try driver.processes(in: top) == [shell.pid])
            for h in driver.hierarchies {
                let procs = CgroupTestSupport.contents(h.mountPoint + "/" + top + "/cgroup.procs")
                #expect(procs.split(separator: "\n") == ["\(shell.pid)"], "in \(h.mountPoint)")
            }
            // The loop runs inside the cgroup, so its CPU time and memory land there.
            #expect(try CgroupTestSupport.eventually {
                let u = try driver.usage(of: top)
                return u.cpuUsageNanos ?? 0 > 1_000_000 && u.memoryCurrent ?? 0 > 0
            })
            let usage = try driver.usage(of: top)
            #expect(usage.pidsCurrent == 1)
            #expect(usage.memoryPeak ?? 0 >= usage.memoryCurrent ?? 0)
            #expect(usage.oomKills == 0)
            #expect(usage.throttledPeriods == 0)
            #expect(usage.throttledNanos == 0)
        }
    }

    @Test func killAllKillsTheWholeTree() throws {
        try withTop("kill") { top in
            let path = top + "/c"
            try driver.create(path)
            // A parent with two children, two grandchildren, and an orphan whose parent has exited.
            let shell = try GatedShell("""
                busybox sh -c 'sleep 1000 & sleep 1000 & wait' &
                busybox sh -c 'sleep 1000 &'
                sleep 1000 & wait
                """)
            defer { shell.stop() }
            try driver.addProcess(shell.pid, to: path)
            shell.release()
            var members: [Int32] = []
            #expect(try CgroupTestSupport.eventually {
                members = try driver.processes(in: path)
                return members.count >= 6
            }, "saw \(members)")
            #expect(members.contains(shell.pid))

            try driver.killAll(in: path, timeout: .seconds(10))
            #expect(try driver.processes(in: path) == [])
            for pid in members {
                #expect(CgroupTestSupport.isDead(pid), "pid \(pid) survived")
            }
            #expect(shell.process.killedBy == SIGKILL)
            try driver.remove(path)
            #expect(!driver.exists(path))
        }
    }

    @Test func forkLoopStopsAtPids() throws {
        try withTop("pids") { top in
            try driver.create(top)
            try driver.apply(CgroupLimits(pids: 8), to: top)
            // The sleeps get no stderr, so that the pipe ends when the shell does.
            let shell = try GatedShell("n=0; while [ $n -lt 40 ]; do sleep 1000 2>/dev/null & n=$((n+1)); done; exit 0")
            defer { shell.stop() }
            try driver.addProcess(shell.pid, to: top)
            shell.release()
            // busybox sh gives up at the first fork the kernel refuses.
            #expect(shell.process.exitCode ?? 0 != 0)
            #expect(shell.process.errorOutput().contains("can't fork"))
            #expect(file("pids", top, "pids.events").hasPrefix("max "))
            #expect(file("pids", top, "pids.events") != "max 0")
            #expect(try driver.usage(of: top).pidsCurrent ?? 99 <= 8)
        }
    }

    @Test func memoryLimitOOMKillsAndIsCounted() throws {
        try withTop("oom") { top in
            try driver.create(top)
            try driver.apply(CgroupLimits(memoryBytes: 16 << 20, memorySwapBytes: 0), to: top)
            // dd's 64 MiB buffer is filled by read(2): every page is touched and charged.
            let shell = try GatedShell("exec busybox dd if=/dev/zero of=/dev/null bs=64M count=1")
            defer { shell.stop() }
            try driver.addProcess(shell.pid, to: top)
            shell.release()
            #expect(shell.process.killedBy == SIGKILL)
            #expect(try driver.usage(of: top).oomKills == 1)
        }
    }

    @Test func cpuQuotaThrottles() throws {
        try withTop("cpu") { top in
            try driver.create(top)
            try driver.apply(CgroupLimits(cpuMillicores: 100), to: top)
            let shell = try GatedShell("while :; do :; done")
            defer { shell.stop() }
            try driver.addProcess(shell.pid, to: top)
            shell.release()
            #expect(try CgroupTestSupport.eventually {
                let u = try driver.usage(of: top)
                return u.throttledPeriods ?? 0 > 2 && u.throttledNanos ?? 0 > 0
            })
        }
    }

    @Test func aCgroupThatCannotBeCreatedLeavesNothingBehind() throws {
        try withTop("rollback") { top in
            // The host's hierarchies, then one whose mount point does not exist: mkdir fails there last.
            let broken = CgroupV1Driver(hierarchies: driver.hierarchies + [
                CgroupV1Hierarchy(mountPoint: "/nonexistent-berth-cgroup", controllers: ["pids"]),
            ])
            let error = try #require(throws: KernelError.self) { try broken.create(top + "/c") }
            #expect(error.description == "mkdir /nonexistent-berth-cgroup/\(top): No such file or directory")
            #expect(!driver.exists(top))
        }
    }

    @Test func aHierarchyMissingTheCgroupReadsAsUnset() throws {
        try withTop("partial") { top in
            try driver.create(top)
            try driver.apply(CgroupLimits(memoryBytes: 64 << 20, pids: 10), to: top)
            // As an interrupted create would leave it: not in the memory hierarchy.
            #expect(rmdir(driver.directory("memory", top)!) == 0)
            #expect(try driver.limits(of: top) == CgroupLimits(pids: 10))
            #expect(try driver.usage(of: top).memoryCurrent == nil)
        }
    }

    @Test func removeTakesChildCgroupsAndToleratesGone() throws {
        try withTop("remove") { top in
            try driver.create(top + "/c/inner/deeper")
            try driver.remove(top + "/c")
            #expect(!driver.exists(top + "/c"))
            #expect(driver.exists(top))
            try driver.remove(top + "/c")
            try driver.killAll(in: top + "/c")
        }
    }

    @Test func removingABusyCgroupFails() throws {
        try withTop("busy") { top in
            try driver.create(top)
            let shell = try GatedShell("exec sleep 1000")
            defer { shell.stop() }
            try driver.addProcess(shell.pid, to: top)
            shell.release()
            let error = try #require(throws: KernelError.self) { try driver.remove(top) }
            #expect(error.description.hasPrefix("rmdir "))
            #expect(error.description.hasSuffix("Device or resource busy"))
        }
    }

    @Test func normalizedTreatsAllCpusAsNoCpuset() throws {
        let all = CgroupTestSupport.contents(driver.mountPoint("cpuset")! + "/cpuset.cpus")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(driver.normalized(CgroupLimits(cpuset: all)).cpuset == nil)
        #expect(driver.normalized(CgroupLimits(cpuWeight: 100)).cpuWeight == nil)
        #expect(driver.normalized(CgroupLimits(io: [IOThrottle(major: 8, minor: 0, readBps: 0)])).io == [])
    }

    @Test(arguments: ["", "/abs", "../x", "a//b", "a/./b"])
    func badPathsCreateNothing(path: String) throws {
        #expect(throws: KernelError.self) { try driver.create(path) }
        #expect(throws: KernelError.self) { try driver.remove(path) }
        #expect(!driver.exists(path))
    }
}

/// A v1 memory hierarchy without memsw files (swap accounting off), faked in a temporary directory.
@Suite("Cgroup v1 driver without swap accounting")
struct CgroupV1NoSwapAccountingTests {
    @Test func memorySwapFailsClearly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(CgroupTestSupport.uniqueName("nomemsw")).path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/c", withIntermediateDirectories: true)
        for (name, value) in [("memory.limit_in_bytes", "9223372036854771712\n"), ("memory.usage_in_bytes", "0\n"),
                              ("cgroup.procs", "")] {
            _ = FileManager.default.createFile(atPath: dir + "/c/" + name, contents: Data(value.utf8))
        }
        let driver = CgroupV1Driver(hierarchies: [CgroupV1Hierarchy(mountPoint: dir, controllers: ["memory"])])
        let error = try #require(throws: KernelError.self) {
            try driver.apply(CgroupLimits(memoryBytes: 1 << 20, memorySwapBytes: 0), to: "c")
        }
        #expect(error.description.contains("memory.memsw.limit_in_bytes"))
        #expect(error.description.contains("swap accounting is off"))
        // Memory alone still works, and reads back without swap.
        try driver.apply(CgroupLimits(memoryBytes: 1 << 20), to: "c")
        #expect(CgroupTestSupport.contents(dir + "/c/memory.limit_in_bytes") == "1048576")
        #expect(try driver.limits(of: "c") == CgroupLimits(memoryBytes: 1 << 20))
    }
}
