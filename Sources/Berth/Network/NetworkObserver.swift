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

/// The host's side of an observation: one rtnetlink socket in the host's namespace and
/// one dump of its links and of its addresses, shared by the bridges and every
/// container's veth, so that an observation costs a dump per project rather than per
/// container.
struct HostNetworkView {
    let netlink: RouteNetlink
    let links: [Link]
    let addresses: [LinkAddress]

    /// `links` by name and by index: every container looks up its veths and their bridge,
    /// so a search of the whole list each time grew with the square of the containers.
    private let byName: [String: Link]
    private let byIndex: [Int32: Link]

    init() throws {
        netlink = try RouteNetlink()
        let links = try netlink.links()
        self.links = links
        addresses = try netlink.addresses()
        // A namespace's names and indexes are unique; the first is kept all the same.
        byName = Dictionary(links.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        byIndex = Dictionary(links.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func link(named name: String) -> Link? { byName[name] }
    func link(index: Int32) -> Link? { byIndex[index] }
}

/// A running container's side of its networks, read from the host.
struct ContainerNetworkObservation {
    /// By network name.
    var attachments: [String: ObservedAttachment]
    /// The id the host's namespace gives the container's network namespace (its
    /// rtnetlink events carry it).
    var namespaceID: Int32
}

/// Reads networks and attachments back from the kernel over rtnetlink.
struct NetworkObserver {
    var firewall: Firewall

    /// Bridges of the networks berth records or the spec names, by network name.
    func observe(project: String, networks: [String: String], listing: Firewall.Listing,
                 host: HostNetworkView? = nil) throws -> [String: ObservedNetwork] {
        guard !networks.isEmpty else { return [:] }
        let host = try host ?? HostNetworkView()
        let rules = Set(listing.tags)
        var out: [String: ObservedNetwork] = [:]
        for (network, bridgeName) in networks {
            var seen = ObservedNetwork(
                name: network, bridge: nil,
                masquerade: rules.contains(Firewall.masqueradeTag(project: project, network: network)),
                isolated: rules.contains(Firewall.isolationTag(project: project, network: network)))
            if let link = host.link(named: bridgeName) {
                seen.bridge = ObservedBridge(
                    isBridge: link.kind == "bridge", index: link.index, mtu: link.mtu, mac: link.mac?.description,
                    up: link.isUp,
                    addresses: host.addresses.filter { $0.linkIndex == link.index }.map(\.prefix.description).sorted())
            }
            out[network] = seen
        }
        return out
    }

    /// The attachments of a running container, by network name, in the order it lists them.
    func attachments(project: String, container: Container, pid: Int32,
                     host: HostNetworkView? = nil) throws -> [String: ObservedAttachment] {
        guard !container.networks.isEmpty else { return [:] }
        return try containerSide(project: project, container: container, pid: pid, host: host ?? HostNetworkView())
            .attachments
    }

    /// Both sides of a running container's veths, read from the host's namespace: the
    /// host ends from the host's dump, the container's ends with requests that name its
    /// namespace by id (no thread, setns or socket per container), its default route
    /// from /proc (route dumps take no namespace id).
    /// `netlink`: a host socket to ask over (default: the view's).
    func containerSide(project: String, container: Container, pid: Int32,
                       host: HostNetworkView, netlink: RouteNetlink? = nil) throws -> ContainerNetworkObservation {
        try Failpoint.observeNetlink.hit()
        let netlink = netlink ?? host.netlink
        let namespaceID = try netlink.namespaceID(of: .process(pid))
        let addresses = try netlink.addresses(inNamespace: namespaceID)
        let gateway = try ProcFS.defaultGateway(pid: pid)?.description
        var out: [String: ObservedAttachment] = [:]
        for (i, attachment) in container.networks.enumerated() {
            let vethName = NetworkNames.hostVeth(project: project, container: container.name, network: attachment.network)
            let veth = host.link(named: vethName)
            let iface = try netlink.link(named: NetworkNames.containerInterface(i), inNamespace: namespaceID)
            // macvlan: no host end; the child's link is its parent (lan). Link reports no peer
            // when IFLA_LINK equals the child's own index, which a parent's index in the host can.
            let macvlan = iface?.kind == "macvlan"
            out[attachment.network] = ObservedAttachment(
                hostVeth: veth != nil || macvlan,
                master: (macvlan ? iface.map { $0.peerIndex ?? $0.index } : veth?.masterIndex).flatMap { host.link(index: $0)?.name },
                hostUp: macvlan || veth?.isUp == true,
                interface: iface != nil,
                interfaceUp: iface?.isUp ?? false,
                mtu: iface?.mtu,
                addresses: iface.map { l in addresses.filter { $0.linkIndex == l.index }.map(\.prefix.description).sorted() } ?? [],
                defaultGateway: gateway)
        }
        return ContainerNetworkObservation(attachments: out, namespaceID: namespaceID)
    }
}
