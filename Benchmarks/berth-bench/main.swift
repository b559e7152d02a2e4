// berth-bench: the in-process half of `make bench` (bench/bench.py drives it).
//
// It times what only a library call can time alone: attaching a container to a
// bridge (the netlink work of an apply, without the process start, spec and
// state around it) and starting a container through the runtime. It is not
// part of the product: the berth CLI has no hidden benchmark command.
//
//     berth-bench attach --runs N --bridge NAME --subnet 10.231.7.0/24
//     berth-bench start  --runs N --berth PATH --rootfs DIR --work DIR
//     berth-bench lan | ports (Lan.swift), health (Health.swift)
//
// Each prints one JSON object on standard output: {"samples_ms": [...], ...}.
import Berth
import BerthKernel
import FoundationEssentials
import Glibc

signal(SIGPIPE, SIG_IGN)

struct Usage: Error, CustomStringConvertible {
    var description: String
}

/// `--name value` pairs after the subcommand.
func options(_ arguments: ArraySlice<String>) throws -> [String: String] {
    var result: [String: String] = [:]
    var rest = arguments
    while let key = rest.popFirst() {
        guard key.hasPrefix("--"), let value = rest.popFirst() else { throw Usage(description: "expected --option value, got \(key)") }
        result[String(key.dropFirst(2))] = value
    }
    return result
}

func required(_ options: [String: String], _ key: String) throws -> String {
    guard let value = options[key] else { throw Usage(description: "missing --\(key)") }
    return value
}

func milliseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
}

/// A figure of a result: samples in milliseconds, or a count.
enum Figure: Encodable {
    case samples([Double])
    case count(Int)

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .samples(let s): try c.encode(s)
        case .count(let n): try c.encode(n)
        }
    }
}

func emit(_ object: [String: Figure]) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(object), as: UTF8.self))
}

/// Network attach: the calls `NetworkApplier.ensureAttached` (Sources/Berth/Network)
/// makes for a new container on one network, in the same order: open the
/// container's namespace by path, a netlink socket in each namespace, loopback up,
/// look both ends up, one request for the veth pair (peer made in the container's
/// namespace, host end on the bridge and up), the peer's MAC and up, the address,
/// the default route. The engine's function is internal to the Berth module, so this
/// mirrors it; keep the two in step.
///
/// Not timed: the bridge (made once, as the engine does in its own planned step),
/// the container's namespace (the runtime made it), deleting the veth afterwards.
func attach(_ o: [String: String]) throws {
    let runs = Int(try required(o, "runs")) ?? 0
    let bridge = try required(o, "bridge")
    guard let subnet = IPv4Prefix(try required(o, "subnet")), subnet.length <= 24 else {
        throw Usage(description: "--subnet must be an IPv4 prefix of /24 or wider")
    }
    let project = o["project"] ?? "berth-bench"
    let network = "bench"
    let gateway = IPv4Prefix(IPv4(subnet.network.address.value + 1), subnet.length)
    let host = try RouteNetlink()
    try host.createBridge(bridge, mac: NetworkNames.bridgeMAC(project: project, network: network), up: true)
    defer { try? host.deleteLink(.name(bridge)) }
    try host.addAddress(gateway, to: .name(bridge), broadcast: gateway.broadcast)

    var samples: [Double] = []
    let clock = ContinuousClock()
    for run in 0..<runs {
        let container = "c\(run)"
        let made = try NetworkNamespace.create(label: "bench container \(run)")
        // The engine opens /proc/PID/ns/net; this is the same nsfs file by another path.
        let path = "/proc/self/fd/\(made.descriptor.rawValue)"
        let vethName = NetworkNames.hostVeth(project: project, container: container, network: network)
        let address = IPv4Prefix(IPv4(subnet.network.address.value + 2 + UInt32(run % 250)), subnet.length)

        let start = clock.now
        do {
            let host = try RouteNetlink()
            let namespace = try NetworkNamespace.open(path)
            defer { try? namespace.close() }
            let inside = try RouteNetlink(namespace: namespace)
            try inside.setLoopbackUp()
            let ifName = NetworkNames.containerInterface(0)
            guard try host.link(.name(vethName)) == nil, try inside.link(.name(ifName)) == nil else {
                throw Usage(description: "\(vethName) or \(ifName) exists already")
            }
            try host.createVeth(vethName, peer: ifName, peerNamespace: namespace, mtu: nil, master: .name(bridge), up: true)
            guard let iface = try inside.link(.name(ifName)) else { throw Usage(description: "\(ifName) missing after creating it") }
            var change = LinkChange()
            let mac = NetworkNames.interfaceMAC(project: project, container: container, network: network)
            if iface.mac != mac { change.mac = mac }
            if !iface.isUp { change.up = true }
            if change != LinkChange() { try inside.setLink(.index(iface.index), change) }
            let present = try inside.addresses(on: .index(iface.index))
            if !present.contains(where: { $0.prefix == address }) {
                try inside.addAddress(address, to: .index(iface.index), broadcast: address.broadcast)
            }
            if try inside.routes().first(where: { $0.isDefault }) == nil {
                try inside.addDefaultRoute(via: gateway.address, device: .index(iface.index))
            }
        }
        samples.append(milliseconds(clock.now - start))
        try? host.deleteLink(.name(vethName))
        try made.close()
    }
    try emit(["samples_ms": .samples(samples)])
}

/// Container start through the runtime alone: what `Engine.start` does for a
/// container without a network, minus berth's own records: the cgroup, its
/// limits, berth init in new namespaces (uts, ipc, pid, mount, network), the
/// root filesystem, and the exec of the command. Timed until `start` returns,
/// that is until init reports the command exec'd.
///
/// Not timed: waiting for the command (/bin/true) to end, removing the cgroup.
func start(_ o: [String: String]) throws {
    let runs = Int(try required(o, "runs")) ?? 0
    // The berth CLI's path: its init is the berth-init beside it, as berth itself finds it.
    let berthInit = InitExecutable.beside(executable: try required(o, "berth"))
    let rootfs = try required(o, "rootfs")
    let work = try required(o, "work")
    let prefix = o["cgroup"] ?? "berth-bench-\(getpid())"
    // Lets the kernel finish tearing down the previous run's namespaces (async, under
    // the rtnl lock) before the next is timed.
    let pause = UInt32(o["pause-ms"] ?? "0") ?? 0
    let namespaces = o["namespaces"].map { Set($0.split(separator: ",").compactMap { NamespaceKind(rawValue: String($0)) }) }
        ?? ContainerConfig.defaultNamespaces
    // --seccomp unconfined: the same start without the filter (default: berth's profile).
    let seccomp: SeccompPolicy = o["seccomp"] == "unconfined" ? .unconfined : .default
    let cgroups = try Cgroups.detect()
    let limits = CgroupLimits(cpuMillicores: 500, memoryBytes: 64 << 20, pids: 64)
    var samples: [Double] = [], attach: [Double] = []
    let clock = ContinuousClock()
    defer { if cgroups.exists(prefix) { try? cgroups.remove(prefix) } }
    for run in 0..<runs {
        let path = "\(prefix)/c\(run)"
        let stateDir = "\(work)/c\(run)"
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        let config = ContainerConfig(id: "berth-bench/c\(run)", rootfs: rootfs, argv: ["/bin/true"],
                                     env: ["PATH=/bin"], hostname: "c\(run)", namespaces: namespaces,
                                     seccomp: seccomp)
        if pause > 0 { usleep(pause * 1000) }
        let begin = clock.now
        do {
            try cgroups.create(path)
            try cgroups.apply(limits, to: path)
            // As berth apply does: on cgroup v2 init is created in its cgroup (no write).
            let target = try cgroups.spawnTarget(path)
            defer { try? target?.close() }
            _ = try ContainerRuntime.start(config, stateDir: stateDir, executable: berthInit, cgroup: target) { pid in
                // Timed apart: the first write to cgroup.procs after a quiet spell waits for
                // an RCU grace period (the kernel's cgroup_threadgroup_rwsem).
                let attached = clock.now
                try cgroups.addProcess(pid, to: path)
                attach.append(milliseconds(clock.now - attached))
            }
        } catch {
            try? cgroups.killAll(in: path)
            try? cgroups.remove(path)
            throw error
        }
        samples.append(milliseconds(clock.now - begin))
        // The command ran: its exit record is proof, and the cgroup can go once it is empty.
        let deadline = clock.now + .seconds(10)
        while ContainerRuntime.readExitRecord(stateDir: stateDir) == nil, clock.now < deadline {
            usleep(1000)
        }
        guard let record = ContainerRuntime.readExitRecord(stateDir: stateDir) else {
            throw Usage(description: "container c\(run) left no exit record within 10 s")
        }
        guard record.status == .exited(0) else { throw Usage(description: "/bin/true ended with \(record.status)") }
        try cgroups.killAll(in: path)
        try cgroups.remove(path)
    }
    try emit(["samples_ms": .samples(samples), "cgroup_attach_ms": .samples(attach)])
}

let arguments = CommandLine.arguments
do {
    guard arguments.count >= 2 else { throw Usage(description: "usage: berth-bench attach|start|lan|ports|health --runs N ...") }
    let o = try options(arguments.dropFirst(2))
    switch arguments[1] {
    case "attach": try attach(o)
    case "start": try start(o)
    case "lan": try lanAttach(o)
    case "ports": try publishPorts(o)
    case "health": try healthProbe(o)
    default: throw Usage(description: "unknown subcommand \(arguments[1]); use attach, start, lan, ports or health")
    }
} catch {
    let message = Array("berth-bench: \(error)\n".utf8)
    _ = write(2, message, message.count)
    exit(1)
}
