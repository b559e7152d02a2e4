import BerthKernel

/// A network's bridge as the kernel shows it.
public struct ObservedBridge: Sendable, Equatable {
    /// The link of that name is a bridge (a link of another kind is not berth's).
    public var isBridge: Bool
    public var index: Int32
    public var mtu: Int
    public var mac: String?
    public var up: Bool
    /// IPv4 addresses with prefix, e.g. `10.88.1.1/24`.
    public var addresses: [String]

    public init(isBridge: Bool = true, index: Int32 = 1, mtu: Int = 1500, mac: String? = nil, up: Bool = true,
                addresses: [String] = []) {
        self.isBridge = isBridge
        self.index = index
        self.mtu = mtu
        self.mac = mac
        self.up = up
        self.addresses = addresses
    }
}

/// A network of the project as observed: its bridge (nil when there is no link
/// of its name) and whether its firewall rules exist.
public struct ObservedNetwork: Sendable, Equatable {
    public var name: String
    public var bridge: ObservedBridge?
    public var masquerade: Bool
    public var isolated: Bool
    // lan
    /// A lan network's NIC against its recorded state (nil on other networks).
    public var uplink: ObservedUplink?

    public init(name: String, bridge: ObservedBridge?, masquerade: Bool = false, isolated: Bool = true,
                uplink: ObservedUplink? = nil) {
        self.name = name
        self.bridge = bridge
        self.masquerade = masquerade
        self.isolated = isolated
        self.uplink = uplink
    }
}

/// A running container's link to one network, as observed on both sides of its veth.
public struct ObservedAttachment: Sendable, Equatable {
    /// The host end exists.
    public var hostVeth: Bool
    /// The bridge the host end is attached to (by name), if any.
    public var master: String?
    /// The host end is up.
    public var hostUp: Bool
    /// Inside the container: the interface (`eth0`...) exists and is up.
    public var interface: Bool
    public var interfaceUp: Bool
    public var mtu: Int?
    /// Addresses on the container's interface, e.g. `10.88.1.10/24`.
    public var addresses: [String]
    /// The container's default route gateway, when there is one.
    public var defaultGateway: String?

    public init(hostVeth: Bool = true, master: String? = nil, hostUp: Bool = true, interface: Bool = true,
                interfaceUp: Bool = true, mtu: Int? = nil, addresses: [String] = [], defaultGateway: String? = nil) {
        self.hostVeth = hostVeth
        self.master = master
        self.hostUp = hostUp
        self.interface = interface
        self.interfaceUp = interfaceUp
        self.mtu = mtu
        self.addresses = addresses
        self.defaultGateway = defaultGateway
    }
}

/// Reads networks and attachments back from the kernel over rtnetlink.
struct NetworkObserver {
    var firewall: Firewall

    /// Bridges of the networks berth records or the spec names, by network name.
    func observe(project: String, networks: [String: String], listing: Firewall.Listing) throws -> [String: ObservedNetwork] {
        guard !networks.isEmpty else { return [:] }
        let host = try RouteNetlink()
        let links = try host.links()
        let addresses = try host.addresses()
        let rules = Set(listing.tags)
        var out: [String: ObservedNetwork] = [:]
        for (network, bridgeName) in networks {
            var seen = ObservedNetwork(
                name: network, bridge: nil,
                masquerade: rules.contains(Firewall.masqueradeTag(project: project, network: network)),
                isolated: rules.contains(Firewall.isolationTag(project: project, network: network)))
            if let link = links.first(where: { $0.name == bridgeName }) {
                seen.bridge = ObservedBridge(
                    isBridge: link.kind == "bridge", index: link.index, mtu: link.mtu, mac: link.mac?.description,
                    up: link.isUp,
                    addresses: addresses.filter { $0.linkIndex == link.index }.map(\.prefix.description).sorted())
            }
            out[network] = seen
        }
        return out
    }

    /// The attachments of a running container, by network name, in the order it lists them.
    func attachments(project: String, container: Container, pid: Int32) throws -> [String: ObservedAttachment] {
        guard !container.networks.isEmpty else { return [:] }
        try Failpoint.observeNetlink.hit()
        let host = try RouteNetlink()
        let hostLinks = try host.links()
        let inside = try RouteNetlink(namespacePath: "/proc/\(pid)/ns/net")
        let links = try inside.links()
        let addresses = try inside.addresses()
        let gateway = try inside.routes().first { $0.isDefault }?.gateway?.description
        var out: [String: ObservedAttachment] = [:]
        for (i, attachment) in container.networks.enumerated() {
            let vethName = NetworkNames.hostVeth(project: project, container: container.name, network: attachment.network)
            let veth = hostLinks.first { $0.name == vethName }
            let iface = links.first { $0.name == NetworkNames.containerInterface(i) }
            // macvlan: no host end; the child's link is its parent (lan). Link reports no peer
            // when IFLA_LINK equals the child's own index, which a parent's index in the host can.
            let macvlan = iface?.kind == "macvlan"
            out[attachment.network] = ObservedAttachment(
                hostVeth: veth != nil || macvlan,
                master: (macvlan ? iface.map { $0.peerIndex ?? $0.index } : veth?.masterIndex).flatMap { m in hostLinks.first { $0.index == m }?.name },
                hostUp: macvlan || veth?.isUp == true,
                interface: iface != nil,
                interfaceUp: iface?.isUp ?? false,
                mtu: iface?.mtu,
                addresses: iface.map { l in addresses.filter { $0.linkIndex == l.index }.map(\.prefix.description).sorted() } ?? [],
                defaultGateway: gateway)
        }
        return out
    }
}
