import BerthKernel

/// A NIC as it was before a lan network took it over. Written into the network's record
/// before the first change, so that a takeover interrupted at any step is finished by the
/// next apply, and destroy (or a failed check of the router) gives the NIC back exactly this.
public struct UplinkState: Sendable, Equatable, Codable {
    public var name: String
    public var mac: String
    public var mtu: Int
    public var up: Bool
    /// The NIC's IPv4 addresses, in the kernel's order (the primary of a subnet first).
    public var addresses: [Address]
    /// The routes that left by the NIC (main table), except the kernel's own prefix routes,
    /// which come back with the addresses.
    public var routes: [RouteCopy]
    /// The router answered ARP through the bridge after the takeover (nil until it has):
    /// a takeover interrupted before the check is checked by the apply that finishes it.
    public var routerAnswered: Bool?

    public struct Address: Sendable, Equatable, Codable {
        /// `192.168.50.2/24`
        public var prefix: String
        public var broadcast: String?

        var kernel: IPv4Prefix { IPv4Prefix(prefix)! }
    }

    /// A route with everything `ip route` shows of it but the device.
    public struct RouteCopy: Sendable, Equatable, Codable {
        /// `0.0.0.0/0` for the default route.
        public var destination: String
        public var gateway: String?
        public var table: UInt32
        public var routeProtocol: UInt8
        public var scope: UInt8
        public var type: UInt8
        public var metric: UInt32?
        public var source: String?

        init(_ r: Route) {
            destination = r.destination.description
            gateway = r.gateway?.description
            table = r.table
            routeProtocol = r.routeProtocol.rawValue
            scope = r.scope
            type = r.type
            metric = r.metric
            source = r.preferredSource?.description
        }

        /// The route leaving by the link `index`.
        func kernel(on index: Int32) -> Route {
            Route(destination: IPv4Prefix(destination)!, gateway: gateway.flatMap { IPv4($0) }, outputIndex: index, table: table,
                  routeProtocol: RouteProtocol(rawValue: routeProtocol), scope: scope, type: type, metric: metric,
                  preferredSource: source.flatMap { IPv4($0) })
        }

        /// `default via 192.168.50.1`, as a plan shows it.
        public var description: String {
            (destination == "0.0.0.0/0" ? "default" : destination) + (gateway.map { " via \($0)" } ?? "")
        }
    }
}

/// Why a lan network's takeover (or its undoing) cannot go on.
public enum LanError: Error, CustomStringConvertible, Sendable {
    /// The NIC named by `uplink:` is not on this host.
    case uplinkMissing(network: String, uplink: String)
    /// The NIC is a port of another bridge (or bond) already.
    case uplinkEnslaved(network: String, uplink: String, master: String)
    /// After the takeover the router did not answer ARP: everything was put back.
    case gatewaySilent(network: String, uplink: String, gateway: String, seconds: Int)
    /// The NIC named by `parent:` is not on this host.
    case parentMissing(network: String, parent: String)
    /// A macvlan child cannot have a larger MTU than its parent.
    case mtuAboveParent(network: String, parent: String, mtu: Int, parentMTU: Int)
    /// The router did not answer and putting the NIC back failed too.
    case rollbackFailed(network: String, uplink: String, gateway: String, undo: String)

    public var description: String {
        switch self {
        case .uplinkMissing(let network, let uplink):
            "networks.\(network).uplink: there is no interface \(uplink) on this host"
        case .uplinkEnslaved(let network, let uplink, let master):
            "networks.\(network).uplink: \(uplink) is already a port of \(master); a lan network needs a NIC of its own"
        case .gatewaySilent(let network, let uplink, let gateway, let seconds):
            "networks.\(network).gateway: the router \(gateway) did not answer ARP within \(seconds) s through the bridge "
                + "that took \(uplink) over; \(uplink) has its addresses and routes back, nothing of the network is left"
        case .parentMissing(let network, let parent):
            "networks.\(network).parent: there is no interface \(parent) on this host"
        case .mtuAboveParent(let network, let parent, let mtu, let parentMTU):
            "networks.\(network).mtu: \(mtu) is larger than the MTU of the parent \(parent) (\(parentMTU))"
        case .rollbackFailed(let network, let uplink, let gateway, let undo):
            "networks.\(network).gateway: the router \(gateway) did not answer ARP through the bridge that took \(uplink) "
                + "over, and giving \(uplink) its addresses back failed: \(undo); the record keeps \(uplink)'s state, "
                + "run destroy (or apply) to finish putting it back"
        }
    }
}

/// Takes a NIC over for a lan network without cutting the host off, and gives it back.
///
/// Every step is idempotent and starts from what the kernel shows, so the same call
/// finishes a takeover that a killed berth left at any step: the state of the NIC is
/// recorded first and never re-read from a NIC that is half taken.
struct LanUplink {
    var project: String
    var store: StateStore
    /// How long the router has to answer ARP after the takeover before berth puts everything back.
    var gatewayTimeout: Duration = .seconds(3)

    /// Records the NIC's state (the first time), then bridge, addresses, port, routes, in the
    /// order that keeps the host reachable; then checks that the router answers through the
    /// bridge, and undoes everything if it does not.
    func ensure(_ network: Network, record: inout NetworkRecord) throws {
        guard let uplink = network.uplink else { return }
        let host = try RouteNetlink()
        guard let nic = try host.link(.name(uplink)) else {
            throw LanError.uplinkMissing(network: network.name, uplink: uplink)
        }
        let existing = try host.link(.name(network.bridge))
        if record.uplink?.name != uplink {
            if let master = nic.masterIndex, master != existing?.index {
                let name = try host.link(.index(master))?.name ?? "ifindex \(master)"
                throw LanError.uplinkEnslaved(network: network.name, uplink: uplink, master: name)
            }
            record.uplink = try Self.capture(nic, host: host)
            record.mac = record.uplink!.mac
            try store.write(record, project: project)
            try Failpoint.lanAfterRecord.hit()
        }
        let state = record.uplink!
        let fresh = try takeOver(network, state: state, host: host)
        // The check costs seconds of silence when it fails: only after a change (or a check that
        // never finished), never on every apply.
        if fresh || state.routerAnswered != true {
            try checkRouter(network, state: state, host: host, record: record)
            record.uplink?.routerAnswered = true
        }
    }

    /// Returns whether anything was changed.
    private func takeOver(_ network: Network, state: UplinkState, host: RouteNetlink) throws -> Bool {
        var changed = false
        let mac = MACAddress(state.mac)!
        if let link = try host.link(.name(network.bridge)) {
            guard link.kind == "bridge" else {
                throw KernelError("bridge", network.bridge, detail: "a link of that name exists and is not a bridge")
            }
            var change = LinkChange()
            if link.mac != mac { change.mac = mac }
            if link.mtu != state.mtu { change.mtu = state.mtu }
            if !link.isUp { change.up = true }
            if change != LinkChange() {
                try host.setLink(.index(link.index), change)
                changed = true
            }
        } else {
            try host.createLanBridge(network.bridge, mac: mac, mtu: state.mtu)
            changed = true
            try Failpoint.lanAfterBridge.hit()
        }
        let bridge = try host.index(of: .name(network.bridge))
        // The addresses go on the bridge before the NIC joins it: from the moment it does,
        // frames for the host arrive on the bridge, which must answer them at once.
        let onBridge = Set(try host.addresses(on: .index(bridge)).map(\.prefix))
        for a in state.addresses where !onBridge.contains(a.kernel) {
            try host.addAddress(a.kernel, to: .index(bridge), broadcast: a.broadcast.flatMap { IPv4($0) })
            changed = true
        }
        try Failpoint.lanAfterBridgeAddresses.hit()
        guard let nic = try host.link(.name(state.name)) else {
            throw KernelError("find", state.name, detail: "the uplink vanished during the takeover")
        }
        if nic.masterIndex != bridge || !nic.isUp {
            try host.setLink(.index(nic.index), LinkChange(up: true, master: .link(.index(bridge))))
            changed = true
        }
        try Failpoint.lanAfterEnslave.hit()
        // Replaced, not added then deleted: the default route moves to the bridge in one step.
        let routes = try host.routes()
        for r in state.routes {
            let want = r.kernel(on: bridge)
            if !routes.contains(where: { Self.same($0, want) && $0.outputIndex == bridge }) {
                try host.copyRoute(want, device: .index(bridge), replace: true)
                changed = true
            }
        }
        try Failpoint.lanAfterRoutes.hit()
        // Last: removing a NIC's last address flushes every route that still leaves by it.
        let onNIC = Set(try host.addresses(on: .index(nic.index)).map(\.prefix))
        for a in state.addresses where onNIC.contains(a.kernel) {
            try host.deleteAddress(a.kernel, from: .index(nic.index))
            changed = true
        }
        return changed
    }

    private func checkRouter(_ network: Network, state: UplinkState, host: RouteNetlink, record: NetworkRecord) throws {
        let bridge = try host.index(of: .name(network.bridge))
        try Failpoint.lanBeforeGatewayCheck.hit()
        let router = network.gateway.kernel
        if try ARP.whoHas([router], interface: bridge, ownMAC: MACAddress(state.mac)!, timeout: gatewayTimeout)[router] != nil {
            return
        }
        let seconds = Int(gatewayTimeout.components.seconds)
        do {
            try giveBack(state, bridge: network.bridge)
        } catch {
            throw LanError.rollbackFailed(network: network.name, uplink: state.name, gateway: network.gateway.description,
                                          undo: "\(error)")
        }
        var record = record
        record.uplink = nil
        try store.write(record, project: project)
        throw LanError.gatewaySilent(network: network.name, uplink: state.name, gateway: network.gateway.description,
                                     seconds: seconds)
    }

    /// Gives the NIC back what `state` recorded: addresses first (the host stays reachable
    /// through the NIC), then out of the bridge, its routes, MTU and state; then the bridge
    /// goes, and with it what berth put on it. Idempotent; a missing NIC is left missing.
    func giveBack(_ state: UplinkState, bridge name: String) throws {
        let host = try RouteNetlink()
        if let nic = try host.link(.name(state.name)) {
            let present = Set(try host.addresses(on: .index(nic.index)).map(\.prefix))
            for a in state.addresses where !present.contains(a.kernel) {
                try host.addAddress(a.kernel, to: .index(nic.index), broadcast: a.broadcast.flatMap { IPv4($0) })
            }
            var change = LinkChange()
            if nic.masterIndex != nil, let bridge = try host.link(.name(name)), nic.masterIndex == bridge.index {
                change.master = LinkChange.Master.none
            }
            if nic.mtu != state.mtu { change.mtu = state.mtu }
            if nic.isUp != state.up { change.up = state.up }
            if change != LinkChange() { try host.setLink(.index(nic.index), change) }
            try Failpoint.lanGiveBackAfterNIC.hit()
            let routes = try host.routes()
            for r in state.routes {
                let want = r.kernel(on: nic.index)
                if !routes.contains(where: { Self.same($0, want) && $0.outputIndex == nic.index }) {
                    try host.copyRoute(want, device: .index(nic.index), replace: true)
                }
            }
        }
        if let bridge = try host.link(.name(name)), bridge.kind == "bridge" {
            try host.deleteLink(.index(bridge.index))
        }
    }

    /// The NIC's addresses and the routes that leave by it.
    static func capture(_ nic: Link, host: RouteNetlink) throws -> UplinkState {
        let addresses = try host.addresses(on: .index(nic.index)).map {
            UplinkState.Address(prefix: $0.prefix.description, broadcast: $0.broadcast?.description)
        }
        let routes = try host.routes().filter { $0.outputIndex == nic.index && $0.routeProtocol != .kernel }
        guard let mac = nic.mac else { throw KernelError("take over", nic.name, detail: "the interface has no MAC address") }
        return UplinkState(name: nic.name, mac: mac.description, mtu: nic.mtu, up: nic.isUp,
                           addresses: addresses, routes: routes.map(UplinkState.RouteCopy.init), routerAnswered: nil)
    }

    /// The same route but for the device it leaves by.
    static func same(_ a: Route, _ b: Route) -> Bool {
        a.destination == b.destination && a.gateway == b.gateway && a.table == b.table && a.metric == b.metric
    }
}
