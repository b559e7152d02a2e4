import BerthKernel
import Foundation
import Testing

/// The cgroup limits of a spec bite: what a user would check on a real kernel.
@Suite(.enabled(if: geteuid() == 0, "needs root: creates cgroups and namespaces"))
struct LimitsTests {
    static func spec(command: String, resources: String, restart: String = "never") -> String {
        """
        version: 1
        containers:
          app:
            rootfs: ./rootfs
            command: [/bin/sh, -c, "\(command)"]
            restart: \(restart)
            stopTimeout: 1s
            resources:
        \(resources)
        """
    }

    func usage(_ box: Sandbox) throws -> [String: Any] {
        try box.status().first?["usage"] as? [String: Any] ?? [:]
    }

    @Test func aProcessAllocatingPastMemoryIsOOMKilledAndTheKillIsObserved() throws {
        let box = try Sandbox("oom")
        defer { box.close() }
        // /dev/shm is a tmpfs: its pages are charged to the container's memory.
        try box.write(Self.spec(command: "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64; sleep 1000",
                                resources: "      memory: 16Mi"))
        try box.apply()
        #expect(try eventually { (try usage(box)["oomKills"] as? Int ?? 0) >= 1 })
        let limits = try box.cgroups.limits(of: box.cgroup("app"))
        #expect(limits.memoryBytes == 16 << 20)
    }

    @Test func aCPUHogUnderCpusPointTwoUsesAboutAFifthOfACore() throws {
        let box = try Sandbox("cpu")
        defer { box.close() }
        try box.write(Self.spec(command: "while :; do :; done", resources: "      cpus: 0.2"))
        try box.apply()
        let driver = try box.cgroups
        let start = try #require(try driver.usage(of: box.cgroup("app")).cpuUsageNanos)
        let t0 = Date()
        usleep(1_500_000)
        let end = try #require(try driver.usage(of: box.cgroup("app")).cpuUsageNanos)
        let cores = Double(end - start) / 1e9 / Date().timeIntervalSince(t0)
        // The quota caps it at 0.2; other tests share the two cores, so the floor is loose.
        #expect(cores < 0.3, "used \(cores) cores")
        #expect(cores > 0.05, "used \(cores) cores")
        #expect(try driver.limits(of: box.cgroup("app")).cpuMillicores == 200)
    }

    @Test func aForkLoopStopsAtPids() throws {
        let box = try Sandbox("pids")
        defer { box.close() }
        // The inner shell forks until the kernel refuses, then gives up; its sleeps stay
        // (berth init adopts them), so the cgroup stays full right up to the limit.
        try box.write(Self.spec(command: "sh -c 'for i in $(seq 1 64); do sleep 1000 & done'; exec sleep 1000",
                                resources: "      pids: 12"))
        try box.apply()
        #expect(try eventually { (10...12).contains(try usage(box)["pidsCurrent"] as? Int ?? 0) })
        #expect(try eventually {
            (try? String(contentsOfFile: "\(box.stateDirectory)/\(box.project)/containers/app/container.log", encoding: .utf8))?
                .contains("can't fork") ?? false
        })
        #expect(try usage(box)["pidsCurrent"] as? Int ?? 99 <= 12)
    }

    @Test func anIOLimitOnTheDiskIsWrittenToTheRightFile() throws {
        let box = try Sandbox("io")
        defer { box.close() }
        let disk = try #require(BlockDevice.number(of: "/dev/vda") ?? Self.anyDisk())
        try box.write(Self.spec(command: "sleep 1000", resources: """
                  io:
                    - {device: "\(disk.major):\(disk.minor)", readBps: 1Mi, writeIops: 100}
            """))
        try box.apply()
        let driver = try box.cgroups
        let io = try driver.limits(of: box.cgroup("app")).io
        #expect(io == [IOThrottle(major: disk.major, minor: disk.minor, readBps: 1 << 20, writeIops: 100)])
        if driver.mode != .unified {
            let file = "/sys/fs/cgroup/blkio/\(box.cgroup("app"))/blkio.throttle.read_bps_device"
            #expect(try String(contentsOfFile: file, encoding: .utf8).contains("\(disk.major):\(disk.minor) 1048576"))
        }
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    /// The first whole disk in /sys/block that is not a loop, ram or zram device.
    static func anyDisk() -> (major: UInt32, minor: UInt32)? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        for name in names.sorted() where !["loop", "ram", "zram"].contains(where: name.hasPrefix) {
            if let dev = BlockDevice.number(of: "/dev/\(name)") { return dev }
        }
        return nil
    }
}
