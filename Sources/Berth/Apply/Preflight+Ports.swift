import BerthKernel

extension Preflight {
    /// Host ports the spec publishes that another project of berth's publishes, or that a
    /// process of the host listens on (named where /proc tells). Ports this project
    /// publishes already are its own.
    static func portProblems(spec: Spec, addresses: IPAM.Assignment, firewall: Firewall) -> [PreflightProblem] {
        guard spec.containers.contains(where: { !$0.ports.isEmpty }) else { return [] }
        let published: [(project: String, container: String, forward: PortForward)]
        do {
            published = try firewall.listing().published
        } catch {
            return [PreflightProblem("ports", "cannot read berth's nftables table: \(error)")]
        }
        var out: [PreflightProblem] = []
        for c in spec.containers where !c.ports.isEmpty {
            let at = "containers.\(c.name).ports"
            for f in KernelMapping.portForwards(c, addresses: addresses) {
                let what = "host port \(f.proto.rawValue) \(f.hostAddress.map { "\($0):" } ?? "")\(f.hostPort)"
                let holders = published.filter { $0.forward.collides(with: f) }
                if let other = holders.first(where: { $0.project != spec.project }) {
                    out.append(PreflightProblem("\(at)", "\(what) is already published by project \(other.project) (container \(other.container), \(other.forward))"))
                    continue
                }
                guard holders.isEmpty else { continue }
                let listeners = HostListener.find(f.proto == .udp ? .udp : .tcp, port: f.hostPort, address: f.hostAddress)
                if !listeners.isEmpty {
                    out.append(PreflightProblem("\(at)", "\(what) is in use on this host: " + listeners.map(\.description).joined(separator: ", ")))
                }
            }
        }
        return out
    }
}
