import BerthKernel

extension Preflight {
    /// How long a machine of the LAN has to answer the probe for an address berth is about to use.
    /// (`package`: berth-bench times the probe with these.)
    package static let probeTimeout: Duration = .milliseconds(500)
    /// How often the probe is sent again while nobody answers.
    package static let probeInterval: Duration = .milliseconds(150)

    /// lan and macvlan networks: the NIC is here and free, the MTU fits the parent, no
    /// container takes an address of the host's own, and every address used for the first
    /// time is probed on the LAN (RFC 5227): one that another machine answers for is refused.
    static func lanProblems(spec: Spec, plan: Plan, records: ProjectRecords) -> [PreflightProblem] {
        let networks = spec.networks.filter { $0.mode.isOnTheLAN }
        guard !networks.isEmpty else { return [] }
        guard let host = try? RouteNetlink(), let links = try? host.links(), let hostAddresses = try? host.addresses() else {
            return [PreflightProblem("networks", "cannot read the host's links and addresses over rtnetlink")]
        }
        var out: [PreflightProblem] = []
        for network in networks {
            let at = "networks.\(network.name)"
            let key = network.mode == .lan ? "uplink" : "parent"
            guard let name = network.uplink, let nic = links.first(where: { $0.name == name }) else {
                out.append(PreflightProblem("\(at).\(key)", "there is no interface \(network.uplink ?? "") on this host"))
                continue
            }
            let bridge = links.first { $0.name == network.bridge && $0.kind == "bridge" }
            if network.mode == .lan, let master = nic.masterIndex, master != bridge?.index {
                let other = links.first { $0.index == master }?.name ?? "ifindex \(master)"
                out.append(PreflightProblem("\(at).uplink", "\(name) is already a port of \(other); a lan network needs a NIC of its own"))
                continue
            }
            if network.mode == .macvlan, let mtu = network.mtu, mtu > nic.mtu {
                out.append(PreflightProblem("\(at).mtu", "\(mtu) is larger than the MTU of the parent \(name) (\(nic.mtu))"))
            }
            let assigned = plan.addresses.addresses[network.name] ?? [:]
            var fresh: [IPv4: String] = [:]
            for (container, ip) in assigned.sorted(by: { $0.key < $1.key }) {
                if let own = hostAddresses.first(where: { $0.prefix.address == ip.kernel }) {
                    let device = links.first { $0.index == own.linkIndex }?.name ?? "ifindex \(own.linkIndex)"
                    out.append(PreflightProblem("containers.\(container).networks.\(network.name)", "\(ip) is an address of this host (on \(device))"))
                    continue
                }
                if records.networks[network.name]?.allocations[container] != ip { fresh[ip.kernel] = container }
            }
            guard !fresh.isEmpty else { continue }
            // The LAN is reached through the bridge once it holds the NIC, else through the NIC itself.
            let via = network.mode == .lan && bridge != nil && nic.masterIndex == bridge?.index ? bridge! : nic
            guard let mac = via.mac else { continue }
            do {
                let answered = try ARP.whoHas(Set(fresh.keys), interface: via.index, ownMAC: mac, timeout: probeTimeout,
                                              interval: probeInterval)
                for (ip, owner) in answered.sorted(by: { $0.key < $1.key }) {
                    out.append(PreflightProblem("containers.\(fresh[ip]!).networks.\(network.name)",
                                                 "\(ip) is in use on the LAN: \(owner) answers ARP for it"))
                }
            } catch {
                out.append(PreflightProblem(at, "cannot probe the LAN for its addresses: \(error)"))
            }
        }
        return out
    }
}
