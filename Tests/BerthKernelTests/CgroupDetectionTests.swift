import Foundation
import Testing
@testable import BerthKernel

@Suite("Cgroup mode detection")
struct CgroupDetectionTests {
    static let unified = """
        22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        26 21 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        27 21 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
        """

    // systemd's legacy layout: cpu and cpuacct share a hierarchy, as do net_cls and net_prio.
    static let legacy = """
        25 21 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
        29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
        30 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
        31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
        32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
        33 25 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
        34 25 0:32 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,blkio
        35 25 0:33 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,freezer
        36 25 0:34 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,devices
        """

    // This project's test hosts: separate cpu and cpuacct mounts, an empty cgroup2 at unified.
    static let hybrid = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    @Test func unifiedHostGetsTheV2DriverAtTheRoot() throws {
        let layout = try CgroupLayout(mountinfo: Self.unified)
        #expect(layout.mode == .unified)
        #expect(layout.v1Hierarchies.isEmpty)
        let driver = try #require(try Cgroups.detect(mountinfo: Self.unified) as? CgroupV2Driver)
        #expect(driver.root == "/sys/fs/cgroup")
        #expect(driver.mode == .unified)
    }

    @Test func legacyHostWithCombinedCpuAndCpuacct() throws {
        let layout = try CgroupLayout(mountinfo: Self.legacy)
        #expect(layout.mode == .legacy)
        #expect(layout.unifiedMountPoint == nil)
        let driver = try #require(try Cgroups.detect(mountinfo: Self.legacy) as? CgroupV1Driver)
        #expect(driver.mode == .legacy)
        // One hierarchy for cpu and cpuacct; name=systemd and net_cls are not berth's.
        // devices is: it holds the container's device policy.
        #expect(driver.hierarchies.map(\.mountPoint) == [
            "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
            "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/blkio", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/devices",
        ])
        #expect(driver.hierarchies[0].controllers == ["cpu", "cpuacct"])
        #expect(driver.directory("cpuacct", "berth/p/c") == "/sys/fs/cgroup/cpu,cpuacct/berth/p/c")
        #expect(driver.directory("cpu", "berth/p/c") == "/sys/fs/cgroup/cpu,cpuacct/berth/p/c")
    }

    @Test func hybridHostUsesV1AndIgnoresTheEmptyCgroup2Mount() throws {
        let layout = try CgroupLayout(mountinfo: Self.hybrid)
        #expect(layout.mode == .hybrid)
        #expect(layout.unifiedMountPoint == "/sys/fs/cgroup/unified")
        let driver = try #require(try Cgroups.detect(mountinfo: Self.hybrid) as? CgroupV1Driver)
        #expect(driver.mode == .hybrid)
        #expect(driver.directory("cpu", "x") == "/sys/fs/cgroup/cpu/x")
        #expect(driver.directory("cpuacct", "x") == "/sys/fs/cgroup/cpuacct/x")
        #expect(!driver.hierarchies.contains { $0.mountPoint.hasSuffix("unified") || $0.mountPoint.hasSuffix("systemd") })
        #expect(driver.hierarchies.count == 8)
    }

    @Test func noCgroupMountIsAnError() {
        let text = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
        #expect(throws: KernelError.self) { try CgroupLayout(mountinfo: text) }
        // A cgroup2 mount elsewhere than under the root does not count either.
        let elsewhere = "26 21 0:24 / /mnt/cg rw - cgroup2 cgroup2 rw\n"
        #expect(throws: KernelError.self) { try CgroupLayout(mountinfo: elsewhere) }
    }

    @Test func mountPointsWithEscapedSpaces() throws {
        let text = "26 21 0:24 / /tmp/my\\040cgroups rw - cgroup2 cgroup2 rw\n"
        let layout = try CgroupLayout(mountinfo: text, root: "/tmp/my cgroups")
        #expect(layout.mode == .unified)
        #expect(layout.unifiedMountPoint == "/tmp/my cgroups")
    }

    @Test func aBindMountedHierarchyCountsOnce() throws {
        let text = Self.legacy + "\n90 25 0:29 / /sys/fs/cgroup/memory2 rw - cgroup cgroup rw,memory\n"
        let layout = try CgroupLayout(mountinfo: text)
        #expect(layout.v1Hierarchies.filter { $0.controllers == ["memory"] }.count == 1)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.controllers")
                   && FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                   "a hybrid host"))
    func thisHostIsHybrid() throws {
        let driver = try Cgroups.detect()
        #expect(driver.mode == .hybrid)
        let v1 = try #require(driver as? CgroupV1Driver)
        for controller in ["cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer"] {
            let dir = try #require(v1.mountPoint(controller), "\(controller) is mounted")
            #expect(FileManager.default.fileExists(atPath: dir + "/cgroup.procs"))
        }
    }
}

@Suite("cpu.shares <-> cpu.weight")
struct CgroupConversionTests {
    // The cases of runc's TestConvertCPUSharesToCgroupV2Value (opencontainers/cgroups utils_test.go).
    @Test(arguments: [
        (UInt64(0), 0), (1, 1), (2, 1), (3, 2), (1024, 100), (262_143, 10_000), (262_144, 10_000), (262_145, 10_000),
    ])
    func runcConversion(shares: UInt64, weight: Int) {
        #expect(CPUShares.weight(forShares: shares) == weight)
    }

    @Test func everyWeightSurvivesTheRoundTrip() {
        for w in 1...10_000 {
            let shares = CPUShares.shares(forWeight: w)
            #expect((2...262_144).contains(shares))
            #expect(CPUShares.weight(forShares: shares) == w, "weight \(w) -> \(shares) shares")
        }
    }

    @Test func defaultsMapToEachOther() {
        #expect(CPUShares.shares(forWeight: 100) == 1024)
        #expect(CPUShares.shares(forWeight: 1) == 2)
        #expect(CPUShares.shares(forWeight: 10_000) == 262_144)
        // Monotonic, so a higher weight never gets fewer shares.
        #expect(CPUShares.shares(forWeight: 200) > CPUShares.shares(forWeight: 199))
    }

    @Test(arguments: [("0-1,3", "0-1,3"), ("3,0,1", "0-1,3"), ("0,1,2", "0-2"), ("5", "5"), ("", ""), ("x", "x")])
    func cpuListsAreCanonical(text: String, canonical: String) {
        #expect(CPUList.canonical(text) == canonical)
    }
}
