import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("Device policy: rules and the BPF program")
struct DeviceRuleTests {
    @Test func rulesReadLikeDevicesAllow() throws {
        #expect(DeviceRule(.char, 1, 3, access: "rwm").description == "c 1:3 rwm")
        #expect(DeviceRule(.char, nil, nil, access: "m").description == "c *:* m")
        #expect(DeviceRule(.block, 8, nil, access: "r").description == "b 8:* r")
        let fuse = try DevicePolicy.rule(for: DeviceRequest(path: "/dev/null", access: "rw"))
        #expect(fuse == DeviceRule(.char, 1, 3, access: "rw"))
        #expect(throws: KernelError.self) { try DevicePolicy.rule(for: DeviceRequest(path: "/etc/passwd")) }
        #expect(throws: KernelError.self) { try DevicePolicy.rule(for: DeviceRequest(path: "/dev/berth-none")) }
    }

    @Test func programEndsInDenyAndHasABlockPerRule() {
        let program = DeviceProgram(DevicePolicy(allow: [DeviceRule(.char, 1, 3, access: "rwm")]))
        // 6 loads, a rule of 3 tests + 2 (allow, exit), then the deny: 2.
        #expect(program.count == 6 + 5 + 2)
        #expect(program.instructions.suffix(16) == [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])
    }
}

@Suite("Device policy: probes from inside containers", .enabled(if: geteuid() == 0, "needs root"), .serialized)
struct DevicePolicyTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    /// A container with CAP_SYS_ADMIN (to mount a tmpfs of its own without nodev) in a
    /// fresh cgroup of `driver` that holds `policy`.
    func probe(_ name: String, driver: any CgroupDriver, devices: [DeviceRequest], _ probes: [String]) throws
        -> [String: String]
    {
        let sandbox = try ContainerSandbox(name)
        defer { sandbox.cleanup() }
        try HardeningProbe.install(into: sandbox.rootfs)
        let cgroup = "berth-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try driver.create(cgroup)
        defer {
            try? driver.killAll(in: cgroup, timeout: .seconds(5))
            try? driver.remove(cgroup)
        }
        try driver.applyDevices(DevicePolicy.container(devices), to: cgroup)
        var config = sandbox.config(["/bin/probe"] + probes)
        config.capabilities += ["CAP_SYS_ADMIN"]
        config.devices = devices
        let state = try sandbox.stateDir()
        let id = try ContainerRuntime.start(config, stateDir: state, executable: ContainerSandbox.berthInit) { pid in
            try driver.addProcess(pid, to: cgroup)
        }
        sandbox.track(id)
        try sandbox.waitForExit(id)
        return HardeningProbe.answers(sandbox.log(state))
    }

    static let probes = ["devnode", "open:/dev/null", "open:/dev/zero", "open:/dev/full", "open:/dev/tty",
                         "open:/dev/ptmx", "open:/dev/fuse"]

    /// The host's own driver: v1 devices controller on hybrid and legacy hosts, BPF on unified ones.
    @Test func hostDriverDeniesAMknodedNodeAndAllowsTheListed() throws {
        let driver = try Cgroups.detect()
        let denied = try probe("dev-deny", driver: driver, devices: [], Self.probes)
        #expect(denied["devnode"] == "open:EPERM", "\(denied)")
        #expect(denied["open:/dev/null"] == "OK")
        #expect(denied["open:/dev/zero"] == "OK")
        #expect(denied["open:/dev/full"] == "OK")
        #expect(denied["open:/dev/ptmx"] == "OK")
        // Not in the container's /dev at all without a devices entry.
        #expect(denied["open:/dev/fuse"] == "ENOENT")

        let fuse = try probe("dev-fuse", driver: driver, devices: [DeviceRequest(path: "/dev/fuse", access: "rw")],
                             Self.probes)
        #expect(fuse["open:/dev/fuse"] == "OK", "\(fuse)")
        #expect(fuse["devnode"] == "open:EPERM")
    }

    @Test func readOnlyAccessRefusesWrites() throws {
        let driver = try Cgroups.detect()
        let a = try probe("dev-ro", driver: driver, devices: [DeviceRequest(path: "/dev/fuse", access: "r")],
                          ["open:/dev/fuse"])
        // The probe opens read-write.
        #expect(a["open:/dev/fuse"] == "EPERM", "\(a)")
    }

    @Test func v1DevicesListIsTheAllowList() throws {
        guard let driver = try Cgroups.detect() as? CgroupV1Driver else { return }
        let cgroup = "berth-test-devlist-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try driver.create(cgroup)
        defer { try? driver.remove(cgroup) }
        try driver.applyDevices(DevicePolicy.container([DeviceRequest(path: "/dev/fuse", access: "rwm")]), to: cgroup)
        let list = try driver.deviceList(of: cgroup)
        #expect(list.contains("c 10:229 rwm"))
        #expect(list.contains("c 1:3 rwm"))
        #expect(list.contains("c 136:* rwm"))
        #expect(!list.contains("a *:* rwm"))
        #expect(!list.contains("c 1:11 rwm"))
    }

    /// The BPF device program, on this host's cgroup2 mount (empty on a hybrid host, but
    /// device programs attach to any cgroup2 directory): the same probes, the same answers.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs")
          || (try? Cgroups.detect().mode) == .unified))
    func bpfProgramOnCgroup2() throws {
        let root = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs")
            ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup"
        let driver = CgroupV2Driver(root: root)
        let denied = try probe("bpf-deny", driver: driver, devices: [], Self.probes)
        #expect(denied["devnode"] == "open:EPERM", "\(denied)")
        #expect(denied["open:/dev/null"] == "OK")
        #expect(denied["open:/dev/ptmx"] == "OK")
        let fuse = try probe("bpf-fuse", driver: driver, devices: [DeviceRequest(path: "/dev/fuse", access: "rw")],
                             Self.probes + ["devnode"])
        #expect(fuse["open:/dev/fuse"] == "OK", "\(fuse)")
        let readOnly = try probe("bpf-ro", driver: driver, devices: [DeviceRequest(path: "/dev/fuse", access: "r")],
                                 ["open:/dev/fuse"])
        #expect(readOnly["open:/dev/fuse"] == "EPERM", "\(readOnly)")
    }
}
