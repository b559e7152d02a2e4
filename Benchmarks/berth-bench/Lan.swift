// The LAN rows of `make bench` (issue 13): a container put on a `mode: lan` network,
// and one `ports:` entry published, each through the code apply calls.
//
//     berth-bench lan   --spec PATH --network NAME --runs N --netns /run/netns/HOST
//     berth-bench ports --spec PATH --runs N --netns /run/netns/HOST --work DIR
//
// Both run inside the network namespace that plays the host (bench/bench.py makes it,
// with the LAN namespace, the router and the NIC's veth, and removes them): the bench
// never touches the machine's own interfaces or its `ip berth` table.
import Berth
import BerthKernel
import FoundationEssentials
import Glibc

/// The spec the harness wrote, validated as `berth apply` would.
func loadSpec(_ path: String) throws -> Spec {
    switch SpecLoader.load(path: path) {
    case .success(let spec): return spec
    case .failure(let error): throw Usage(description: "\(path): \(error)")
    }
}

/// Runs `body` in the namespace at `path` (a thread that entered it), or here without one.
func inNamespace<T>(_ path: String?, _ body: () throws -> T) throws -> T {
    guard let path else { return try body() }
    let namespace = try NetworkNamespace.open(path)
    defer { try? namespace.close() }
    return try namespace.perform(body)
}

/// LAN attach: for container i of the spec (all on the lan network), in a fresh network
/// namespace, what apply does for an address used for the first time: preflight's RFC 5227
/// probe for it through the bridge (`ARP.whoHas` with preflight's timeout and interval:
/// nobody answers, so it waits the whole timeout), then `NetworkApplier.ensureAttached`, the
/// engine's own function (veth on the LAN bridge, MAC, up, the address from ipRange, the
/// router as default route, the gratuitous ARP). The two are timed apart.
///
/// Not timed: the bridge holding the NIC (the network's own planned step, made by the
/// harness), the container's namespace, deleting the veth afterwards. The first run is
/// checked, untimed: the router answers ARP from inside the container's namespace.
func lanAttach(_ o: [String: String]) throws {
    let runs = Int(try required(o, "runs")) ?? 0
    let spec = try loadSpec(try required(o, "spec"))
    let name = try required(o, "network")
    guard let network = spec.network(named: name), network.mode == .lan else {
        throw Usage(description: "the spec has no lan network \(name)")
    }
    guard spec.containers.count >= runs else { throw Usage(description: "the spec has fewer than \(runs) containers") }
    let addresses = IPAM.assign(spec: spec, records: [:])
    guard addresses.problems.isEmpty else { throw Usage(description: "ipRange: \(addresses.problems)") }
    let applier = NetworkApplier(project: spec.project, firewall: Firewall())

    let (probe, attach) = try inNamespace(o["netns"]) { () throws -> ([Double], [Double]) in
        let host = try RouteNetlink()
        guard let bridge = try host.link(.name(network.bridge)), let bridgeMAC = bridge.mac else {
            throw Usage(description: "no bridge \(network.bridge) (the harness makes it, with the NIC in it)")
        }
        var probe: [Double] = [], attach: [Double] = []
        let clock = ContinuousClock()
        for run in 0..<runs {
            let c = spec.containers[run]
            guard let ip = addresses.address(of: c.name, on: name) else { throw Usage(description: "no address for \(c.name)") }
            let made = try NetworkNamespace.create(label: "bench container \(c.name)")
            defer { try? made.close() }
            let vethName = NetworkNames.hostVeth(project: spec.project, container: c.name, network: name)
            defer { try? host.deleteLink(.name(vethName)) }

            let probed = clock.now
            let answered = try ARP.whoHas([IPv4(ip.value)], interface: bridge.index, ownMAC: bridgeMAC,
                                          timeout: Preflight.probeTimeout, interval: Preflight.probeInterval)
            let attaching = clock.now
            guard answered.isEmpty else { throw Usage(description: "\(ip) is in use on the bench's LAN: \(answered)") }
            try applier.ensureAttached(c, namespacePath: "/proc/self/fd/\(made.descriptor.rawValue)",
                                       networks: [name: network], addresses: addresses)
            let done = clock.now
            probe.append(milliseconds(attaching - probed))
            attach.append(milliseconds(done - attaching))

            if run == 0 {
                // What the user checks: the container reaches the router, with its own address.
                let router = IPv4(network.gateway.value)
                let seen = try made.perform { () throws -> [IPv4: MACAddress] in
                    let inside = try RouteNetlink()
                    guard let eth0 = try inside.link(.name(NetworkNames.containerInterface(0))), let mac = eth0.mac else {
                        throw Usage(description: "no eth0 in the container's namespace")
                    }
                    guard try inside.routes().contains(where: { $0.isDefault && $0.gateway == router }) else {
                        throw Usage(description: "no default route via the router \(router)")
                    }
                    return try ARP.whoHas([router], interface: eth0.index, ownMAC: mac, timeout: .seconds(2))
                }
                guard seen[router] != nil else { throw Usage(description: "the router \(router) does not answer the container") }
            }
        }
        return (probe, attach)
    }
    try emit(["samples_ms": .samples(attach), "probe_ms": .samples(probe)])
}

/// Published port: `Firewall.ensurePorts` with `KernelMapping.portForwards` of the spec's
/// first container, as apply calls them after the attach (one transaction through
/// libnftables under the host-wide lock: list berth's table, add the DNAT rules), then the
/// same call with no ports, as destroy removes them; both timed.
///
/// Not timed: the network's bridge and its rules (hairpin, isolation; the network's own
/// planned step, `NetworkApplier.ensureBridge`), made once before. The lock file and the
/// record of ip_forward are the bench's own (`--work`), since the table is the namespace's.
func publishPorts(_ o: [String: String]) throws {
    let runs = Int(try required(o, "runs")) ?? 0
    let spec = try loadSpec(try required(o, "spec"))
    let work = try required(o, "work")
    guard let c = spec.containers.first, let first = c.networks.first?.network, let network = spec.network(named: first) else {
        throw Usage(description: "the spec's first container has no network")
    }
    let addresses = IPAM.assign(spec: spec, records: [:])
    let forwards = KernelMapping.portForwards(c, addresses: addresses)
    guard !forwards.isEmpty else { throw Usage(description: "\(c.name) publishes no port") }
    let firewall = Firewall(lockPath: work + "/nftables.lock", forwardingRecord: work + "/ip_forward.before")
    let applier = NetworkApplier(project: spec.project, firewall: firewall)

    let (add, remove) = try inNamespace(o["netns"]) { () throws -> ([Double], [Double]) in
        try applier.ensureBridge(network, mac: NetworkNames.bridgeMAC(project: spec.project, network: network.name))
        defer { try? applier.deleteBridge(network.bridge, network: network.name) }
        var add: [Double] = [], remove: [Double] = []
        let clock = ContinuousClock()
        for run in 0..<runs {
            let start = clock.now
            try firewall.ensurePorts(project: spec.project, container: c.name, forwards)
            let added = clock.now
            if run == 0 {
                let listed = try firewall.listing().ports(project: spec.project, container: c.name)
                guard listed.forwards == forwards, listed.edited == 0 else {
                    throw Usage(description: "the table holds \(listed) after publishing \(forwards)")
                }
            }
            let removing = clock.now
            try firewall.ensurePorts(project: spec.project, container: c.name, [])
            let removed = clock.now
            add.append(milliseconds(added - start))
            remove.append(milliseconds(removed - removing))
        }
        return (add, remove)
    }
    try emit(["samples_ms": .samples(add), "remove_ms": .samples(remove), "rules": .count(forwards.count)])
}
