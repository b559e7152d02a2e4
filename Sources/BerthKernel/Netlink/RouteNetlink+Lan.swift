/// The links and exact route copies of networks built on a host NIC: a LAN bridge that
/// takes a NIC over, macvlan children, and routes moved from one link to another with
/// everything the kernel reports of them (protocol, scope, metric, source).
extension RouteNetlink {
    /// Creates a bridge for a NIC to join: the NIC's MAC (so that the LAN's neighbours keep
    /// their ARP entries), its MTU, STP off and forward delay 0 (a port forwards at once:
    /// with the kernel's default of 15 s the host would be cut off that long), up.
    ///
    /// - Throws: `create bridge(NAME): File exists` when a link of that name exists.
    public func createLanBridge(_ name: String, mac: MACAddress, mtu: Int) throws {
        try Self.checkInterfaceName(name, "create bridge")
        var request = NetlinkRequest(type: RTM.newLink, flags: NL.create | NL.exclusive)
        request.appendIfinfomsg(flags: IFF.up, change: IFF.up)
        request.attribute(IFLA.ifname, string: name)
        request.attribute(IFLA.mtu, UInt32(clamping: mtu))
        request.attribute(IFLA.address, bytes: mac.bytes)
        request.nest(IFLA.linkInfo) { info in
            info.attribute(IFLA.infoKind, string: "bridge")
            info.nest(IFLA.infoData) { data in
                data.attribute(IFLA.bridgeForwardDelay, UInt32(0))
                data.attribute(IFLA.bridgeSTPState, UInt32(0))
            }
        }
        try socket.execute(request, "create bridge", name)
    }

    /// Creates a macvlan child of `parent` in bridge mode (children of one parent reach
    /// each other), made directly inside `namespace` under its final name.
    ///
    /// - Throws: `create macvlan(NAME on PARENT): ...` naming both.
    public func createMacvlan(_ name: String, parent: LinkRef, namespace: NetworkNamespace? = nil, mtu: Int? = nil,
                              mac: MACAddress? = nil, up: Bool = false) throws {
        let object = "\(name) on \(parent)" + (namespace.map { " in \($0.label)" } ?? "")
        try Self.checkInterfaceName(name, "create macvlan")
        let parentIndex = try index(of: parent, "create macvlan", object)
        var request = NetlinkRequest(type: RTM.newLink, flags: NL.create | NL.exclusive)
        request.appendIfinfomsg(flags: up ? IFF.up : 0, change: up ? IFF.up : 0)
        request.attribute(IFLA.ifname, string: name)
        request.attribute(IFLA.link, UInt32(bitPattern: parentIndex))
        if let mtu { request.attribute(IFLA.mtu, UInt32(clamping: mtu)) }
        if let mac { request.attribute(IFLA.address, bytes: mac.bytes) }
        if let namespace { request.attribute(IFLA.netNSFD, UInt32(bitPattern: namespace.descriptor.rawValue)) }
        request.nest(IFLA.linkInfo) { info in
            info.attribute(IFLA.infoKind, string: "macvlan")
            info.nest(IFLA.infoData) { data in
                data.attribute(IFLA.macvlanMode, IFLA.macvlanModeBridge)
            }
        }
        try socket.execute(request, "create macvlan", object)
    }

    /// Adds `route` as it is, but leaving by `device`: destination, gateway, table,
    /// protocol, scope, type, metric and preferred source kept. With `replace`, a route of
    /// the same destination and metric is replaced in one step (`ip route replace`): the
    /// way to move the default route from a NIC to a bridge without a moment without one.
    public func copyRoute(_ route: Route, device: LinkRef, replace: Bool = false) throws {
        let object = Self.describe(route.destination, route.gateway, device)
        let operation = replace ? "replace route" : "add route"
        let outputIndex = try index(of: device, operation, object)
        var request = NetlinkRequest(type: RTM.newRoute, flags: NL.create | (replace ? NL.replace : NL.exclusive))
        request.appendRtmsg(family: addressFamilyINet, destinationLength: route.destination.length,
                            table: UInt8(truncatingIfNeeded: route.table <= 255 ? route.table : 252),
                            protocol: route.routeProtocol.rawValue, scope: route.scope, type: route.type)
        if route.destination.length > 0 {
            request.attribute(RTA.dst, bytes: route.destination.network.address.bytes)
        }
        request.attribute(RTA.table, route.table)
        if let gateway = route.gateway { request.attribute(RTA.gateway, bytes: gateway.bytes) }
        request.attribute(RTA.oif, UInt32(bitPattern: outputIndex))
        if let metric = route.metric { request.attribute(RTA.priority, metric) }
        if let source = route.preferredSource { request.attribute(RTA.prefsrc, bytes: source.bytes) }
        try socket.execute(request, operation, object)
    }
}

extension IFLA {
    // Nested in IFLA_INFO_DATA of a bridge, linux/if_link.h (IFLA_BR_*).
    static let bridgeForwardDelay: UInt16 = 1
    static let bridgeSTPState: UInt16 = 5
    // Nested in IFLA_INFO_DATA of a macvlan (IFLA_MACVLAN_*).
    static let macvlanMode: UInt16 = 1
    static let macvlanModeBridge: UInt32 = 4
}
