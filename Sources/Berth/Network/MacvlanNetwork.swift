import BerthKernel

/// A macvlan network: nothing of its own on the host but, with `hostAccess`, a macvlan
/// interface of the host's on the parent (a "shim") with a /32 route to each container:
/// the kernel does not pass traffic between a parent and its macvlan children.
struct MacvlanNetwork {
    var project: String

    static func shimName(project: String, network: String) -> String { NetworkNames.macvlanShim(project: project, network: network) }

    /// Checks the parent; makes or removes the shim as `hostAccess` says, and keeps its
    /// routes to exactly the containers of `allocations`.
    func ensure(_ network: Network, allocations: [String: IPv4Address]) throws {
        let host = try RouteNetlink()
        let parent = try Self.parent(network, host: host)
        if let mtu = network.mtu, mtu > parent.mtu {
            throw LanError.mtuAboveParent(network: network.name, parent: parent.name, mtu: mtu, parentMTU: parent.mtu)
        }
        let name = Self.shimName(project: project, network: network.name)
        guard network.hostAccess else {
            try host.deleteLinkIfPresent(.name(name))
            return
        }
        let shim = try ensureShim(name, network: network, parent: parent, host: host)
        let wanted = Set(allocations.values.map { IPv4Prefix($0.kernel, 32) })
        let present = try host.routes().filter { $0.outputIndex == shim && $0.destination.length == 32 }
        for route in present where !wanted.contains(route.destination) {
            try host.deleteRoute(route.destination, device: .index(shim))
        }
        for destination in wanted where !present.contains(where: { $0.destination == destination }) {
            try host.addRoute(destination, device: .index(shim))
        }
    }

    /// The route from the host to one container through the shim (on attach).
    func routeToContainer(_ network: Network, address: IPv4Address) throws {
        guard network.hostAccess else { return }
        let host = try RouteNetlink()
        let parent = try Self.parent(network, host: host)
        let shim = try ensureShim(Self.shimName(project: project, network: network.name), network: network, parent: parent, host: host)
        let destination = IPv4Prefix(address.kernel, 32)
        if !(try host.routes().contains { $0.outputIndex == shim && $0.destination == destination }) {
            try host.addRoute(destination, device: .index(shim))
        }
    }

    /// Removes the shim (its routes go with it).
    func remove(_ network: Network) throws {
        let host = try RouteNetlink()
        let name = Self.shimName(project: project, network: network.name)
        try host.deleteLinkIfPresent(.name(name))
    }

    static func parent(_ network: Network, host: RouteNetlink) throws -> Link {
        guard let uplink = network.uplink, let parent = try host.link(.name(uplink)) else {
            throw LanError.parentMissing(network: network.name, parent: network.uplink ?? "")
        }
        return parent
    }

    private func ensureShim(_ name: String, network: Network, parent: Link, host: RouteNetlink) throws -> Int32 {
        if let link = try host.link(.name(name)) {
            if !link.isUp { try host.setUp(.index(link.index)) }
            return link.index
        }
        try host.createMacvlan(name, parent: .index(parent.index), mtu: network.mtu,
                               mac: NetworkNames.bridgeMAC(project: project, network: network.name), up: true)
        return try host.index(of: .name(name))
    }
}

extension NetworkApplier {
    /// A container's macvlan child on the parent, made directly in its namespace as `ethN`:
    /// pinned MAC, MTU, address, the router as default gateway (first network), then
    /// announced to the LAN; the host's route to it through the shim.
    func attachMacvlan(_ c: Container, index i: Int, network: Network, ip: IPv4Address,
                       namespace: NetworkNamespace, inside: RouteNetlink) throws {
        let host = try RouteNetlink()
        let parent = try MacvlanNetwork.parent(network, host: host)
        let ifName = NetworkNames.containerInterface(i)
        let mac = NetworkNames.interfaceMAC(project: project, container: c.name, network: network.name)
        var iface = try inside.link(.name(ifName))
        // No peer index means IFLA_LINK is the child's own index (see NetworkObserver.attachments).
        if let link = iface, link.kind != "macvlan" || (link.peerIndex ?? link.index) != parent.index {
            try inside.deleteLink(.index(link.index))
            iface = nil
        }
        if iface == nil {
            try host.createMacvlan(ifName, parent: .index(parent.index), namespace: namespace, mtu: network.mtu, mac: mac)
            try Failpoint.attachAfterVeth.hit()
            iface = try inside.link(.name(ifName))
        }
        guard let iface else { throw KernelError("find", ifName, detail: "missing after creating it") }
        try configureInterface(iface, index: i, network: network, ip: ip, mac: mac, namespace: namespace, inside: inside)
        try MacvlanNetwork(project: project).routeToContainer(network, address: ip)
    }

    /// Gratuitous ARP from inside the container's namespace.
    func announce(_ ip: IPv4Address, mac: MACAddress, interface: Int32, namespace: NetworkNamespace) throws {
        try namespace.perform { try ARP.announce(ip.kernel, mac: mac, interface: interface) }
    }
}

extension NetworkNames {
    /// The host's macvlan on a macvlan network's parent (`hostAccess`): `bm` and 13 hex
    /// digits of a hash of `project/network`.
    public static func macvlanShim(project: String, network: String) -> String {
        "bm" + StableHash.hex(of: "\(project)/\(network)", digits: 13)
    }
}
