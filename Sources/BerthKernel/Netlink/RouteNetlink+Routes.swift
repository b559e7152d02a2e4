/// An IPv4 route, as the kernel reports it (RTM_NEWROUTE).
public struct Route: Hashable, Sendable {
    /// The destination; `0.0.0.0/0` for the default route.
    public var destination: IPv4Prefix
    public var gateway: IPv4?
    /// RTA_OIF: the index of the link the route leaves by.
    public var outputIndex: Int32?
    /// The routing table: ``RouteTable/main`` (254), ``RouteTable/local`` (255), ...
    public var table: UInt32
    /// Who installed it: ``RouteProtocol/kernel`` for the subnet routes of
    /// addresses, ``RouteProtocol/boot`` by default for added routes.
    public var routeProtocol: RouteProtocol
    /// RT_SCOPE_*: 0 universe (via a gateway), 253 link (on the link), 254 host.
    public var scope: UInt8
    /// RTN_*: 1 unicast, 2 local, 3 broadcast, ...
    public var type: UInt8
    /// RTA_PRIORITY, the metric.
    public var metric: UInt32?
    /// RTA_PREFSRC: the source address for traffic using the route.
    public var preferredSource: IPv4?

    public var isDefault: Bool { destination.length == 0 }

    public init(destination: IPv4Prefix, gateway: IPv4? = nil, outputIndex: Int32? = nil, table: UInt32 = RouteTable.main,
                routeProtocol: RouteProtocol = .boot, scope: UInt8 = 0, type: UInt8 = 1, metric: UInt32? = nil,
                preferredSource: IPv4? = nil) {
        self.destination = destination
        self.gateway = gateway
        self.outputIndex = outputIndex
        self.table = table
        self.routeProtocol = routeProtocol
        self.scope = scope
        self.type = type
        self.metric = metric
        self.preferredSource = preferredSource
    }

    /// Decodes an RTM_NEWROUTE message of family AF_INET: `struct rtmsg` then
    /// RTA_* attributes. Returns nil for other families.
    public init?(message: NetlinkMessage) throws(NetlinkMessage.Malformed) {
        let p = message.payload
        guard message.type == RTM.newRoute, p.count >= RTM.rtmsgSize else {
            throw NetlinkMessage.Malformed(reason: "route message of type \(message.type), \(p.count) bytes")
        }
        let family: UInt8 = p.integer(at: 0)!, destinationLength: UInt8 = p.integer(at: 1)!
        guard family == addressFamilyINet else { return nil }
        guard destinationLength <= 32 else {
            throw NetlinkMessage.Malformed(reason: "IPv4 route with prefix length \(destinationLength)")
        }
        let attributes = message.attributes(after: RTM.rtmsgSize)
        self.init(
            destination: IPv4Prefix(attributes.ipv4(RTA.dst) ?? .any, destinationLength),
            gateway: attributes.ipv4(RTA.gateway),
            outputIndex: attributes.int32(RTA.oif),
            // rtm_table has 8 bits; RTA_TABLE carries ids above 255.
            table: attributes.uint32(RTA.table) ?? UInt32(p.integer(at: 4, as: UInt8.self)!),
            routeProtocol: RouteProtocol(rawValue: p.integer(at: 5)!),
            scope: p.integer(at: 6)!, type: p.integer(at: 7)!,
            metric: attributes.uint32(RTA.priority),
            preferredSource: attributes.ipv4(RTA.prefsrc))
    }
}

/// Routing table ids.
public enum RouteTable {
    public static let main: UInt32 = 254
    public static let local: UInt32 = 255
}

/// Who installed a route (rtm_protocol). Values from 5 up are free for
/// daemons to mark their own routes with.
public struct RouteProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let kernel = RouteProtocol(rawValue: 2)
    public static let boot = RouteProtocol(rawValue: 3)
    public static let `static` = RouteProtocol(rawValue: 4)

    public var description: String {
        switch rawValue {
        case 2: "kernel"
        case 3: "boot"
        case 4: "static"
        default: String(rawValue)
        }
    }
}

extension RouteNetlink {
    /// Adds an IPv4 route in `table`: via `gateway` when given (scope
    /// universe), else directly on `device` (scope link). The destination's
    /// host bits are cleared.
    ///
    /// With `replace`, a route to the same destination (and metric) is
    /// replaced instead, as `ip route replace` does: the way to repair one.
    ///
    /// - Throws: `add route(default via 10.88.1.1): File exists` when it is there already;
    ///   `Network is unreachable` when no link reaches the gateway.
    public func addRoute(_ destination: IPv4Prefix, via gateway: IPv4? = nil, device: LinkRef? = nil,
                         table: UInt32 = RouteTable.main, protocol routeProtocol: RouteProtocol = .boot,
                         metric: UInt32? = nil, replace: Bool = false) throws {
        let object = Self.describe(destination, gateway, device)
        try changeRoute(RTM.newRoute, flags: NL.create | (replace ? NL.replace : NL.exclusive),
                        replace ? "replace route" : "add route", object, destination, gateway,
                        device, table, routeProtocol, metric)
    }

    /// Adds (or with `replace`, sets) the default route via `gateway` in the main table.
    public func addDefaultRoute(via gateway: IPv4, device: LinkRef? = nil, replace: Bool = false) throws {
        try addRoute(.defaultRoute, via: gateway, device: device, replace: replace)
    }

    /// Deletes the IPv4 route to `destination` in `table`; a `gateway` or
    /// `device` given must match too.
    ///
    /// - Throws: `delete route(...): No such process` (ESRCH) when there is no such route.
    public func deleteRoute(_ destination: IPv4Prefix, via gateway: IPv4? = nil, device: LinkRef? = nil,
                            table: UInt32 = RouteTable.main) throws {
        let object = Self.describe(destination, gateway, device)
        try changeRoute(RTM.delRoute, flags: 0, "delete route", object, destination, gateway, device, table, nil, nil)
    }

    /// The IPv4 routes of `table` (nil: every table, including `local`).
    public func routes(table: UInt32? = RouteTable.main) throws -> [Route] {
        var request = NetlinkRequest(type: RTM.getRoute)
        // With NETLINK_GET_STRICT_CHK the kernel filters by table itself;
        // older kernels send all tables, hence the filter below as well.
        request.appendRtmsg(family: addressFamilyINet, table: table.map { UInt8(truncatingIfNeeded: min($0, 252)) } ?? 0)
        if let table { request.attribute(RTA.table, table) }
        let object = table.map { "table \($0)" } ?? ""
        let messages: [NetlinkMessage]
        do {
            messages = try socket.dump(request, "dump routes", object)
        } catch let error as KernelError where table != nil && error.errno == .noSuchFileOrDirectory {
            // "ipv4: FIB table does not exist": the kernel makes a table with
            // its first route, so a new namespace has none, not even main.
            return []
        }
        return try messages.compactMap { message in
            guard message.type == RTM.newRoute else { return nil }
            let route = try decoded("dump routes", object) {
                try Route(message: message)
            }
            guard let route, table == nil || route.table == table else { return nil }
            return route
        }
    }

    private func changeRoute(_ type: UInt16, flags: UInt16, _ operation: String, _ object: String,
                             _ destination: IPv4Prefix, _ gateway: IPv4?, _ device: LinkRef?, _ table: UInt32,
                             _ routeProtocol: RouteProtocol?, _ metric: UInt32?) throws {
        let outputIndex = try device.map { try index(of: $0, operation, object) }
        var request = NetlinkRequest(type: type, flags: flags)
        let adding = type == RTM.newRoute
        request.appendRtmsg(
            family: addressFamilyINet, destinationLength: destination.length,
            // RTA_TABLE below carries the full id; rtm_table holds RT_TABLE_COMPAT above 255.
            table: UInt8(truncatingIfNeeded: table <= 255 ? table : 252),
            protocol: routeProtocol?.rawValue ?? 0,
            // On delete, scope RT_SCOPE_NOWHERE (255) matches any scope.
            scope: adding ? (gateway == nil ? RTA.scopeLink : RTA.scopeUniverse) : 255,
            type: adding ? RTA.unicast : 0)
        if destination.length > 0 {
            request.attribute(RTA.dst, bytes: destination.network.address.bytes)
        }
        request.attribute(RTA.table, table)
        if let gateway { request.attribute(RTA.gateway, bytes: gateway.bytes) }
        if let outputIndex { request.attribute(RTA.oif, UInt32(bitPattern: outputIndex)) }
        if let metric { request.attribute(RTA.priority, metric) }
        try socket.execute(request, operation, object)
    }

    static func describe(_ destination: IPv4Prefix, _ gateway: IPv4?, _ device: LinkRef?) -> String {
        var text = destination.length == 0 ? "default" : destination.network.description
        if let gateway { text += " via \(gateway)" }
        if let device { text += " dev \(device)" }
        return text
    }
}
