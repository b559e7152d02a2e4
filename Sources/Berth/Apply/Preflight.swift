import BerthKernel
import FoundationEssentials
import SystemPackage

/// What only the machine can tell, checked for the whole spec before apply
/// changes anything: root filesystems, commands, bind sources, devices, free
/// addresses, bridge names and subnets that do not collide with the host's.
public enum Preflight {
    /// Every problem found, one line each, in spec order; empty when apply may go ahead.
    /// `neighbours`: the networks other berth projects of this host recorded, so that a
    /// collision with one of them names that project.
    public static func problems(spec: Spec, plan: Plan, records: ProjectRecords, mapping: KernelMapping,
                                firewall: Firewall = Firewall(),
                                neighbours: [NeighbourNetwork] = []) -> [PreflightProblem] {
        var out = plan.addresses.problems
        out += networkProblems(spec: spec, records: records, neighbours: neighbours)
        if let problem = firewallProblem(spec: spec) {
            out.append(problem)
        } else {
            out += portProblems(spec: spec, addresses: plan.addresses, firewall: firewall)
        }
        out += lanProblems(spec: spec, plan: plan, records: records)
        let fm = FileManager.default
        let starting = Set(plan.actions.filter { [.create, .replace, .start].contains($0.kind) }.map(\.object.name))
        for c in spec.containers {
            let at = "containers.\(c.name)"
            func isDirectory(_ path: String) -> Bool {
                var dir = false
                return fm.fileExists(atPath: path, isDirectory: &dir) && dir
            }
            if starting.contains(c.name) {
                if c.image != nil {
                    // images: checked by Engine.imageProblems, against the image store.
                } else if !isDirectory(c.rootfs) {
                    out.append(PreflightProblem("\(at).rootfs", "\(c.rootfs) is not a directory"))
                } else if let problem = commandProblem(c) {
                    out.append(PreflightProblem("\(at).command", "\(problem)"))
                }
                for (i, mount) in c.mounts.enumerated() {
                    if case .bind(let source, _, _) = mount, !fm.fileExists(atPath: source) {
                        out.append(PreflightProblem("\(at).mounts[\(i)]", "bind source \(source) does not exist"))
                    }
                }
                out += hardeningProblems(c)
            }
            for (i, limit) in c.resources.io.enumerated() {
                if case .path(let path) = limit.device, mapping.resolveDevice(path) == nil {
                    out.append(PreflightProblem("\(at).resources.io[\(i)]", "\(path) is not a block device on this machine"))
                }
            }
        }
        return out
    }

    /// Networks (and the ports published on them: validation wants a network for those)
    /// are rules in berth's nftables table: a host where libnftables cannot be loaded is
    /// told so before a bridge is made.
    static func firewallProblem(spec: Spec) -> PreflightProblem? {
        guard !spec.networks.isEmpty else { return nil }
        return Firewall.libraryProblem.map { PreflightProblem("networks", "\($0)") }
    }

    /// Bridges and subnets that would collide with what the host already has.
    static func networkProblems(spec: Spec, records: ProjectRecords, neighbours: [NeighbourNetwork]) -> [PreflightProblem] {
        guard !spec.networks.isEmpty else { return [] }
        var out: [PreflightProblem] = []
        guard let host = try? RouteNetlink(), let links = try? host.links(), let routes = try? host.routes() else {
            return [PreflightProblem("networks", "cannot read the host's links and routes over rtnetlink")]
        }
        // Bridges of every berth project on this host are berth's; only other links are foreign.
        let ours = Set(records.networks.values.map(\.spec.bridge))
        for network in spec.networks {
            let at = "networks.\(network.name)"
            let recorded = records.networks[network.name]
            if recorded?.spec.bridge != network.bridge, let link = links.first(where: { $0.name == network.bridge }) {
                if let other = neighbours.first(where: { $0.record.spec.bridge == network.bridge }) {
                    out.append(PreflightProblem("\(at).bridge", "\(network.bridge) is the bridge of \(other)"))
                } else {
                    out.append(PreflightProblem("\(at).bridge", "\(network.bridge) already exists on this host (a \(link.kind ?? "link")) and is not this project's"))
                }
            }
            if recorded?.spec.subnet != network.subnet {
                let subnet = network.subnet
                for route in routes where route.destination.length > 0 {
                    let destination = IPv4CIDR(address: IPv4Address(route.destination.network.address.value),
                                               prefix: Int(route.destination.length))
                    guard destination.overlaps(subnet) else { continue }
                    let device = route.outputIndex.flatMap { i in links.first { $0.index == i }?.name }
                    if let device, ours.contains(device) || device == network.bridge { continue }
                    // lan, macvlan: the LAN's own route, by the NIC the network is built on.
                    if let device, network.mode.isOnTheLAN, device == network.uplink { continue }
                    if let device, let other = neighbours.first(where: { $0.record.spec.bridge == device }) {
                        out.append(PreflightProblem("\(at).subnet", "\(subnet) overlaps \(other), subnet \(other.record.spec.subnet) (dev \(device))"))
                        continue
                    }
                    out.append(PreflightProblem("\(at).subnet", "\(subnet) overlaps the host route \(destination)\(device.map { " dev \($0)" } ?? "")"))
                }
            }
        }
        return out
    }

    /// The command must exist in the root filesystem: an absolute path, or a name
    /// found on the container's PATH (the spec's, or the usual default).
    static func commandProblem(_ c: Container) -> String? {
        guard let argv0 = c.command.first else { return "empty command" }
        let fm = FileManager.default
        func executable(_ inside: String) -> Bool {
            guard let path = resolve(inside, in: c.rootfs) else { return false }
            return fm.isExecutableFile(atPath: path)
        }
        if argv0.contains("/") {
            let inside = argv0.hasPrefix("/") ? argv0 : FilePath(c.workdir).appending(argv0).string
            return executable(inside) ? nil : "\(argv0) is not an executable file in \(c.rootfs)"
        }
        let path = c.env.first { $0.name == "PATH" }?.value ?? ContainerConfig.defaultPath
        for dir in path.split(separator: ":") where executable("\(dir)/\(argv0)") {
            return nil
        }
        return "\(argv0) is not found on PATH (\(path)) in \(c.rootfs)"
    }

    /// Resolves a path inside a root filesystem as the container will see it:
    /// symlinks (absolute ones too) are followed within the root, never onto the host.
    static func resolve(_ path: String, in root: String) -> String? {
        var pending = path.split(separator: "/").map(String.init)
        var resolved: [String] = []
        var hops = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == "." || part.isEmpty { continue }
            if part == ".." { _ = resolved.popLast(); continue }
            let host = root + "/" + (resolved + [part]).joined(separator: "/")
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: host) {
                hops += 1
                guard hops <= 40 else { return nil }
                if target.hasPrefix("/") { resolved = [] }
                pending = target.split(separator: "/").map(String.init) + pending
                continue
            }
            resolved.append(part)
        }
        return root + "/" + resolved.joined(separator: "/")
    }
}

/// A network another berth project of this host recorded: what a collision names.
public struct NeighbourNetwork: Sendable, CustomStringConvertible {
    public var project: String
    public var record: NetworkRecord

    public init(project: String, record: NetworkRecord) {
        self.project = project
        self.record = record
    }

    /// `network front of berth project shop`
    public var description: String { "network \(record.spec.name) of berth project \(project)" }
}

extension StateStore {
    /// The networks every project but `project` recorded, in project order.
    public func neighbourNetworks(of project: String) -> [NeighbourNetwork] {
        projects().filter { $0 != project }.flatMap { other in
            // Another project's unreadable records are its own apply's error, not this one's.
            ((try? networkRecords(other)) ?? [:]).values.sorted { $0.spec.name < $1.spec.name }
                .map { NeighbourNetwork(project: other, record: $0) }
        }
    }
}
