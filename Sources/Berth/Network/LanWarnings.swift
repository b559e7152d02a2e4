import BerthKernel

/// Warnings plan and apply print for lan networks: what on the host would make LAN
/// bridging fail silently.
public enum LanWarnings {
    /// One line per problem; empty when the spec has no lan network or nothing is wrong.
    /// A firewall listing that fails is an error, not silence.
    public static func check(_ spec: Spec) throws -> [String] {
        let lans = spec.networks.filter { $0.mode == .lan }
        guard !lans.isEmpty, BridgeFiltering.filtersBridgedFrames() else { return [] }
        let chains = try BridgeFiltering.droppingForwardChains()
        guard !chains.isEmpty else { return [] }
        return lans.map { network in
            "networks.\(network.name): br_netfilter is loaded (\(BridgeFiltering.callIptables) = 1) and the FORWARD "
                + "policy of \(chains.joined(separator: ", ")) is drop: frames bridged between \(network.uplink ?? "the uplink") "
                + "and the containers of \(network.bridge) will be dropped; accept them (e.g. a rule for iifname/oifname "
                + "\(network.bridge)) or set bridge-nf-call-iptables to 0"
        }
    }
}
