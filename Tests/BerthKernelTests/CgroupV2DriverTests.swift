import Foundation
import Testing
@testable import BerthKernel

/// The v2 driver against a directory tree laid out like a cgroup v2 hierarchy.
/// (A real v2 kernel is issue 8's VM.)
@Suite("Cgroup v2 driver (fake tree)")
struct CgroupV2DriverTests {
    static let all = CgroupLimits(
        cpuMillicores: 500, cpuWeight: 200, cpuset: "0-1", memoryBytes: 64 << 20, memorySwapBytes: 16 << 20,
        pids: 64, io: [IOThrottle(major: 8, minor: 0, readBps: 1 << 20, readIops: 100)])

    /// A fake root with berth/p/c made as the kernel would show them.
    func withTree(_ body: (FakeCgroupV2Tree, CgroupV2Driver) throws -> Void) throws {
        let tree = try FakeCgroupV2Tree()
        defer { tree.destroy() }
        for path in ["berth", "berth/p", "berth/p/c"] { tree.makeCgroup(path) }
        try body(tree, CgroupV2Driver(root: tree.root))
    }

    @Test func createEnablesControllersDownThePath() throws {
        try withTree { tree, driver in
            try driver.create("berth/p/c")
            let enabled = "+cpuset +cpu +io +memory +pids"
            #expect(tree.read("cgroup.subtree_control") == enabled)
            #expect(tree.read("berth/cgroup.subtree_control") == enabled)
            #expect(tree.read("berth/p/cgroup.subtree_control") == enabled)
            // The leaf holds processes, so it enables nothing (v2's no-internal-process rule).
            #expect(tree.read("berth/p/c/cgroup.subtree_control") == "\n")
            #expect(driver.exists("berth/p/c"))
        }
    }

    @Test func createMakesTheLeafDirectory() throws {
        try withTree { tree, driver in
            try driver.create("berth/p/new")
            #expect(driver.exists("berth/p/new"))
            #expect(try driver.children(of: "berth/p") == ["c", "new"])
        }
    }

    @Test func onlyOfferedAndNotYetEnabledControllersAreEnabled() throws {
        let tree = try FakeCgroupV2Tree(rootControllers: ["cpu", "memory", "hugetlb", "pids"])
        defer { tree.destroy() }
        tree.makeCgroup("berth", controllers: ["cpu", "memory", "pids"])
        tree.write("berth/cgroup.subtree_control", "cpu memory\n")
        tree.makeCgroup("berth/p", controllers: ["cpu", "memory", "pids"])
        try CgroupV2Driver(root: tree.root).create("berth/p")
        #expect(tree.read("cgroup.subtree_control") == "+cpu +memory +pids")
        #expect(tree.read("berth/cgroup.subtree_control") == "+pids")
    }

    @Test func applyWritesEveryFileExactly() throws {
        try withTree { tree, driver in
            try driver.apply(Self.all, to: "berth/p/c")
            #expect(tree.read("berth/p/c/cpu.max") == "50000 100000")
            #expect(tree.read("berth/p/c/cpu.weight") == "200")
            #expect(tree.read("berth/p/c/cpuset.cpus") == "0-1")
            #expect(tree.read("berth/p/c/memory.max") == "67108864")
            #expect(tree.read("berth/p/c/memory.swap.max") == "16777216")
            #expect(tree.read("berth/p/c/pids.max") == "64")
            #expect(tree.read("berth/p/c/io.max") == "8:0 rbps=1048576 wbps=max riops=100 wiops=max")
            #expect(try driver.limits(of: "berth/p/c") == Self.all)
            #expect(driver.normalized(Self.all) == Self.all)
        }
    }

    @Test func nilResetsEveryFile() throws {
        try withTree { tree, driver in
            try driver.apply(Self.all, to: "berth/p/c")
            try driver.apply(CgroupLimits(), to: "berth/p/c")
            #expect(tree.read("berth/p/c/cpu.max") == "max 100000")
            #expect(tree.read("berth/p/c/cpu.weight") == "100")
            #expect(tree.read("berth/p/c/cpuset.cpus") == "")
            #expect(tree.read("berth/p/c/memory.max") == "max")
            #expect(tree.read("berth/p/c/memory.swap.max") == "max")
            #expect(tree.read("berth/p/c/pids.max") == "max")
            // Removing a throttle is setting every key to max.
            #expect(tree.read("berth/p/c/io.max") == "8:0 rbps=max wbps=max riops=max wiops=max")
            #expect(try driver.limits(of: "berth/p/c") == CgroupLimits())
        }
    }

    @Test func ioThrottlesNoLongerWantedAreRemovedFirst() {
        let current = [
            IOThrottle(major: 8, minor: 16, writeBps: 2),
            IOThrottle(major: 8, minor: 0, readBps: 1),
        ]
        let wanted = [
            IOThrottle(major: 253, minor: 0),                       // nothing limited: same as absent
            IOThrottle(major: 8, minor: 16, readIops: 5),
        ]
        #expect(CgroupV2Driver.ioMaxWrites(current: current, wanted: wanted) == [
            "8:0 rbps=max wbps=max riops=max wiops=max",
            // wbps=max: a key set before and not wanted now is reset.
            "8:16 rbps=max wbps=max riops=5 wiops=max",
        ])
        #expect(CgroupV2Driver.ioMaxWrites(current: current, wanted: []) == [
            "8:0 rbps=max wbps=max riops=max wiops=max",
            "8:16 rbps=max wbps=max riops=max wiops=max",
        ])
    }

    @Test func readsKernelFormattedFiles() throws {
        try withTree { tree, driver in
            tree.write("berth/p/c/cpu.max", "150000 100000\n")
            tree.write("berth/p/c/cpu.weight", "1000\n")
            tree.write("berth/p/c/cpuset.cpus", "0-1,3\n")
            tree.write("berth/p/c/memory.max", "49999872\n")
            tree.write("berth/p/c/memory.swap.max", "0\n")
            tree.write("berth/p/c/pids.max", "7\n")
            tree.write("berth/p/c/io.max", """
                8:16 rbps=max wbps=4096 riops=max wiops=max
                8:0 rbps=1048576 wbps=max riops=max wiops=10
                254:0 rbps=max wbps=max riops=max wiops=max

                """)
            let seen = try driver.limits(of: "berth/p/c")
            #expect(seen == CgroupLimits(
                cpuMillicores: 1500, cpuWeight: 1000, cpuset: "0-1,3", memoryBytes: 49_999_872, memorySwapBytes: 0,
                pids: 7, io: [
                    IOThrottle(major: 8, minor: 0, readBps: 1_048_576, writeIops: 10),
                    IOThrottle(major: 8, minor: 16, writeBps: 4096),
                ]))
        }
    }

    @Test func normalizedIsWhatTheKernelReadsBack() {
        let driver = CgroupV2Driver(root: "/nonexistent")
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let n = driver.normalized(CgroupLimits(
            cpuMillicores: 5, cpuWeight: 100, cpuset: "1,0", memoryBytes: 50_000_000, memorySwapBytes: 3 * page + 1,
            pids: 10, io: [IOThrottle(major: 8, minor: 16, readBps: 1), IOThrottle(major: 8, minor: 0),
                           IOThrottle(major: 7, minor: 0, writeIops: 3)]))
        #expect(n.cpuMillicores == 10)              // the kernel's minimum quota is 1 ms per 100 ms
        #expect(n.cpuWeight == nil)                 // the default reads back as nil
        #expect(n.cpuset == "0-1")
        #expect(n.memoryBytes == 50_000_000 / page * page) // issue 8: 50000000 reads 49999872 on 4 KiB pages
        #expect(n.memorySwapBytes == 3 * page)
        #expect(n.pids == 10)
        #expect(n.io == [IOThrottle(major: 7, minor: 0, writeIops: 3), IOThrottle(major: 8, minor: 16, readBps: 1)])
        #expect(driver.normalized(CgroupLimits(memoryBytes: UInt64.max)).memoryBytes == nil)
    }

    @Test func usageFromTheV2Files() throws {
        try withTree { tree, driver in
            tree.write("berth/p/c/memory.current", "1048576\n")
            tree.write("berth/p/c/memory.peak", "2097152\n")
            tree.write("berth/p/c/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 9\nnr_throttled 4\nthrottled_usec 250\n")
            tree.write("berth/p/c/pids.current", "3\n")
            tree.write("berth/p/c/memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n")
            let usage = try driver.usage(of: "berth/p/c")
            #expect(usage == CgroupUsage(
                memoryCurrent: 1_048_576, memoryPeak: 2_097_152, cpuUsageNanos: 1_500_000, throttledPeriods: 4,
                throttledNanos: 250_000, pidsCurrent: 3, oomKills: 2))
        }
    }

    @Test func processesAreReadAndAdded() throws {
        try withTree { tree, driver in
            tree.write("berth/p/c/cgroup.procs", "12\n3\n")
            #expect(try driver.processes(in: "berth/p/c") == [3, 12])
            try driver.addProcess(4321, to: "berth/p/c")
            #expect(tree.read("berth/p/c/cgroup.procs") == "4321")
        }
    }

    @Test func killAllUsesCgroupKill() throws {
        try withTree { tree, driver in
            try driver.killAll(in: "berth/p/c", timeout: .seconds(5))
            #expect(tree.read("berth/p/c/cgroup.kill") == "1")
        }
    }

    /// Without cgroup.kill: freeze, SIGKILL each member, thaw. The fake's "kernel" is
    /// this test: it empties cgroup.procs once the process has died.
    @Test func killAllWithoutCgroupKillFreezesAndSignals() throws {
        let tree = try FakeCgroupV2Tree()
        defer { tree.destroy() }
        tree.makeCgroup("c", kill: false)
        tree.write("c/cgroup.freeze", "")
        let sleeper = try SpawnedProcess(["/bin/busybox", "sleep", "1000"])
        defer { sleeper.stop() }
        tree.write("c/cgroup.procs", "\(sleeper.pid)\n")
        let emptied = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            sleeper.wait()
            tree.write("c/cgroup.procs", "")
            emptied.signal()
        }
        try CgroupV2Driver(root: tree.root).killAll(in: "c", timeout: .seconds(10))
        emptied.wait()
        #expect(sleeper.killedBy == SIGKILL)
        #expect(tree.read("c/cgroup.freeze") == "0") // thawed again
    }

    @Test func killAllFailsAfterTheDeadline() throws {
        let tree = try FakeCgroupV2Tree()
        defer { tree.destroy() }
        tree.makeCgroup("c", kill: false)
        // A pid that no process has: the fake never empties, as a kernel would not for a stuck task.
        tree.write("c/cgroup.procs", "\(Int32.max)\n")
        let error = try #require(throws: KernelError.self) {
            try CgroupV2Driver(root: tree.root).killAll(in: "c", timeout: .milliseconds(300))
        }
        #expect(error.description.contains("kill all processes in \(tree.root)/c"))
        #expect(error.description.contains("1 still there"))
    }

    @Test func removeTakesDescendantsDeepestFirst() throws {
        try withTree { tree, driver in
            try driver.create("berth/p/x")
            // Cgroups the container made below its own (bare directories in the fake).
            try FileManager.default.createDirectory(
                atPath: tree.root + "/berth/p/x/sub/deeper", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: tree.root + "/berth/p/x/other", withIntermediateDirectories: true)
            try driver.remove("berth/p/x")
            #expect(!tree.exists("berth/p/x"))
            #expect(tree.exists("berth/p/c"))
            try driver.remove("berth/p/x") // already gone: fine
        }
    }

    @Test func missingControllerIsSaidPlainly() throws {
        let tree = try FakeCgroupV2Tree()
        defer { tree.destroy() }
        tree.makeCgroup("c", controllers: ["cpu", "pids"])
        let driver = CgroupV2Driver(root: tree.root)
        // Unset fields whose controller is absent have nothing to reset.
        try driver.apply(CgroupLimits(cpuMillicores: 100), to: "c")
        let error = try #require(throws: KernelError.self) {
            try driver.apply(CgroupLimits(memoryBytes: 1 << 20), to: "c")
        }
        #expect(error.description ==
            "write \(tree.root)/c/memory.max (\"1048576\"): No such file or directory (the memory controller is not available for this cgroup)")
    }

    @Test func swapWithoutSwapAccountingFails() throws {
        let tree = try FakeCgroupV2Tree()
        defer { tree.destroy() }
        tree.makeCgroup("c")
        try FileManager.default.removeItem(atPath: tree.root + "/c/memory.swap.max")
        let driver = CgroupV2Driver(root: tree.root)
        let error = try #require(throws: KernelError.self) {
            try driver.apply(CgroupLimits(memoryBytes: 1 << 20, memorySwapBytes: 0), to: "c")
        }
        #expect(error.description.contains("memory.swap.max"))
        #expect(error.description.contains("swap accounting is off"))
        try driver.apply(CgroupLimits(memoryBytes: 1 << 20), to: "c") // nil swap: nothing to write
    }

    @Test(arguments: ["", "/berth/p", "../x", "berth/../x", "berth//p", "berth/./p", "berth/p/"])
    func badPathsAreRefused(path: String) throws {
        try withTree { tree, driver in
            #expect(throws: KernelError.self) { try driver.create(path) }
            #expect(throws: KernelError.self) { try driver.apply(CgroupLimits(), to: path) }
            #expect(throws: KernelError.self) { try driver.remove(path) }
            #expect(!driver.exists(path))
            #expect(!FileManager.default.fileExists(atPath: tree.root + "/../x"))
        }
    }

    @Test func aMissingCgroupIsAnErrorForReads() throws {
        try withTree { tree, driver in
            #expect(throws: KernelError.self) { try driver.limits(of: "berth/p/gone") }
            #expect(throws: KernelError.self) { try driver.usage(of: "berth/p/gone") }
            #expect(throws: KernelError.self) { try driver.apply(CgroupLimits(), to: "berth/p/gone") }
            try driver.killAll(in: "berth/p/gone") // nothing to kill
        }
    }
}
