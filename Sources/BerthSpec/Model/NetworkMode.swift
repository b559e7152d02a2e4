/// What a network is made of.
public enum NetworkMode: String, Sendable, Equatable, Codable, CaseIterable {
    /// A private bridge of berth's with its own subnet; the bridge holds the gateway address.
    case bridge
    /// The host's LAN: the uplink NIC joins a bridge that takes over its addresses and
    /// routes; containers get addresses of the LAN and its router as their gateway.
    case lan
    /// A macvlan child of the parent NIC per container (bridge mode), addressed on the LAN.
    case macvlan

    /// The container's own address is reachable from the LAN: no NAT, no published ports.
    public var isOnTheLAN: Bool { self != .bridge }
}

extension Network {
    /// The addresses berth may hand out to containers without a static one, lowest first:
    /// the host addresses of `ipRange` (or of the subnet on a bridge network) that are not
    /// the gateway, the subnet's network or its broadcast address.
    public var handOutRange: ClosedRange<UInt32>? {
        if let ipRange {
            return ipRange.network.value...ipRange.broadcast.value
        }
        guard mode == .bridge else { return nil }
        return subnet.firstHost.value...subnet.lastHost.value
    }
}

extension Network {
    /// What a container's interface on the network hangs off: the bridge, or a macvlan's parent.
    public var attachedTo: String { mode == .macvlan ? (uplink ?? bridge) : bridge }
}
