import SystemPackage

/// rtnetlink, spoken directly: links (bridges, veths), IPv4 addresses and
/// routes of one network namespace.
///
/// One instance holds one socket and reuses it for every request; make one
/// per namespace (the host's with ``init()``, a container's with
/// ``init(namespace:)``). Every failure is a ``KernelError`` naming the step
/// and the object, e.g. `create bridge(bfront0): File exists`.
public final class RouteNetlink: Sendable {
    public let socket: NetlinkSocket

    /// rtnetlink in the calling thread's namespace (the host's, for berth).
    public convenience init() throws {
        try self.init(socket: NetlinkSocket(protocol: NL.route))
    }

    /// rtnetlink inside `namespace`; see ``NetlinkSocket/open(in:protocol:)``.
    /// The namespace descriptor may be closed afterwards: the socket keeps
    /// the namespace alive.
    public convenience init(namespace: NetworkNamespace) throws {
        try self.init(socket: NetlinkSocket.open(in: namespace, protocol: NL.route))
    }

    /// rtnetlink inside the namespace at `path` (`/proc/PID/ns/net`, `/run/netns/NAME`).
    public convenience init(namespacePath path: String) throws {
        let namespace = try NetworkNamespace.open(path)
        defer { try? namespace.close() }
        try self.init(namespace: namespace)
    }

    public init(socket: NetlinkSocket) {
        self.socket = socket
    }

    // MARK: Reading links

    /// Every link of the namespace.
    public func links() throws -> [Link] {
        var request = NetlinkRequest(type: RTM.getLink)
        request.appendIfinfomsg()
        request.attribute(IFLA.extMask, IFLA.rtextFilterSkipStats)
        return try socket.dump(request, "dump links").compactMap { message in
            guard message.type == RTM.newLink else { return nil }
            return try decoded("dump links", "") { try Link(message: message) }
        }
    }

    /// The link `ref` names, or nil when there is none.
    public func link(_ ref: LinkRef) throws -> Link? {
        var request = NetlinkRequest(type: RTM.getLink)
        switch ref {
        case .index(let index):
            request.appendIfinfomsg(index: index)
        case .name(let name):
            try Self.checkInterfaceName(name, "get link")
            request.appendIfinfomsg()
            request.attribute(IFLA.ifname, string: name)
        }
        request.attribute(IFLA.extMask, IFLA.rtextFilterSkipStats)
        let reply: NetlinkMessage
        do {
            reply = try socket.get(request, "get link", ref.description)
        } catch let error as KernelError where error.errno == .operationNotSupportedByDevice {
            return nil
        }
        return try decoded("get link", ref.description) { try Link(message: reply) }
    }

    /// The index of the link `ref` names.
    ///
    /// - Throws: `get link(NAME): No such device` when there is no such link.
    public func index(of ref: LinkRef) throws -> Int32 {
        try index(of: ref, "get link", ref.description)
    }

    /// The index of `ref`, for a request that needs one; a missing link is
    /// reported as the failure of `operation(object)`.
    func index(of ref: LinkRef, _ operation: String, _ object: String) throws -> Int32 {
        if case .index(let index) = ref { return index }
        guard let link = try link(ref) else {
            throw KernelError(operation, object, errno: .operationNotSupportedByDevice,
                              detail: object == ref.description ? nil : "no link \(ref)")
        }
        return link.index
    }

    // MARK: Creating and deleting links

    /// Creates a bridge. A MAC given here stays: the kernel otherwise gives
    /// a bridge the lowest MAC of its ports, which changes as ports come and go.
    ///
    /// - Throws: `create bridge(NAME): File exists` when a link of that name exists.
    public func createBridge(_ name: String, mtu: Int? = nil, mac: MACAddress? = nil, up: Bool = false) throws {
        try Self.checkInterfaceName(name, "create bridge")
        var request = NetlinkRequest(type: RTM.newLink, flags: NL.create | NL.exclusive)
        request.appendIfinfomsg(flags: up ? IFF.up : 0, change: up ? IFF.up : 0)
        request.attribute(IFLA.ifname, string: name)
        if let mtu { request.attribute(IFLA.mtu, UInt32(clamping: mtu)) }
        if let mac { request.attribute(IFLA.address, bytes: mac.bytes) }
        request.nest(IFLA.linkInfo) { $0.attribute(IFLA.infoKind, string: "bridge") }
        try socket.execute(request, "create bridge", name)
    }

    /// Creates a veth pair in one request: `name` here, and `peer` created
    /// directly inside `peerNamespace` (here when nil) under its final name,
    /// so it never appears in this namespace and two containers' `eth0`
    /// never clash.
    ///
    /// The peer starts down; bring it up from its own namespace. (The kernel
    /// refuses IFF_UP for the peer in this request with ENOTCONN: the peer
    /// is opened before the two ends are joined.)
    ///
    /// - Parameters:
    ///   - mtu: the MTU of both ends.
    ///   - master: the bridge to attach this end to.
    ///   - up: bring this end up.
    public func createVeth(_ name: String, peer: String, peerNamespace: NetworkNamespace? = nil, mtu: Int? = nil,
                           master: LinkRef? = nil, up: Bool = false) throws {
        var object = peerNamespace.map { "\(name), peer \(peer) in \($0.label)" } ?? "\(name), peer \(peer)"
        if let master { object += ", master \(master)" }
        try Self.checkInterfaceName(name, "create veth")
        try Self.checkInterfaceName(peer, "create veth")
        let masterIndex = try master.map { try index(of: $0, "create veth", object) }
        var request = NetlinkRequest(type: RTM.newLink, flags: NL.create | NL.exclusive)
        request.appendIfinfomsg(flags: up ? IFF.up : 0, change: up ? IFF.up : 0)
        request.attribute(IFLA.ifname, string: name)
        if let mtu { request.attribute(IFLA.mtu, UInt32(clamping: mtu)) }
        if let masterIndex { request.attribute(IFLA.master, UInt32(bitPattern: masterIndex)) }
        request.nest(IFLA.linkInfo) { info in
            info.attribute(IFLA.infoKind, string: "veth")
            info.nest(IFLA.infoData) { data in
                data.nest(IFLA.vethInfoPeer) { peerInfo in
                    // The peer is described like a whole link: its own
                    // ifinfomsg, then its attributes.
                    peerInfo.appendIfinfomsg()
                    peerInfo.attribute(IFLA.ifname, string: peer)
                    if let mtu { peerInfo.attribute(IFLA.mtu, UInt32(clamping: mtu)) }
                    if let peerNamespace {
                        peerInfo.attribute(IFLA.netNSFD, UInt32(bitPattern: peerNamespace.descriptor.rawValue))
                    }
                }
            }
        }
        try socket.execute(request, "create veth", object)
    }

    /// Deletes a link. Deleting either end of a veth deletes both.
    ///
    /// - Throws: `delete link(NAME): No such device` when there is none.
    public func deleteLink(_ link: LinkRef) throws {
        var request = NetlinkRequest(type: RTM.delLink)
        try appendTarget(link, to: &request, "delete link")
        try socket.execute(request, "delete link", link.description)
    }

    /// Deletes a link if there is one: none is no failure, whether it was never made or
    /// went by itself meanwhile (the host end of a veth whose network namespace is being
    /// torn down, which the kernel removes from a workqueue at a moment of its own).
    /// Returns whether this call deleted it.
    @discardableResult
    public func deleteLinkIfPresent(_ link: LinkRef) throws -> Bool {
        do {
            try deleteLink(link)
            return true
        } catch let error as KernelError where error.errno == .operationNotSupportedByDevice {  // ENODEV
            return false
        }
    }

    // MARK: Changing links

    /// Applies `change` to a link in one request.
    public func setLink(_ link: LinkRef, _ change: LinkChange) throws {
        try setLink(link, change, "set link", link.description)
    }

    private func setLink(_ link: LinkRef, _ change: LinkChange, _ operation: String, _ object: String) throws {
        var target = link
        if change.name != nil, case .name = link {
            // With a new IFLA_IFNAME in the request, only the index can say which link.
            target = .index(try index(of: link, operation, object))
        }
        let masterIndex: Int32? = try change.master.map {
            switch $0 {
            case .none: 0
            case .link(let master): try index(of: master, operation, object)
            }
        }
        if let name = change.name { try Self.checkInterfaceName(name, operation) }

        var request = NetlinkRequest(type: RTM.newLink)
        let upFlags: (flags: UInt32, change: UInt32) = change.up.map { ($0 ? IFF.up : 0, IFF.up) } ?? (0, 0)
        switch target {
        case .index(let index):
            request.appendIfinfomsg(index: index, flags: upFlags.flags, change: upFlags.change)
            if let name = change.name { request.attribute(IFLA.ifname, string: name) }
        case .name(let name):
            try Self.checkInterfaceName(name, operation)
            request.appendIfinfomsg(flags: upFlags.flags, change: upFlags.change)
            request.attribute(IFLA.ifname, string: name)
        }
        if let mtu = change.mtu { request.attribute(IFLA.mtu, UInt32(clamping: mtu)) }
        if let mac = change.mac { request.attribute(IFLA.address, bytes: mac.bytes) }
        if let masterIndex { request.attribute(IFLA.master, UInt32(bitPattern: masterIndex)) }
        try socket.execute(request, operation, object)
    }

    /// Brings a link up.
    public func setUp(_ link: LinkRef) throws {
        try setLink(link, LinkChange(up: true), "set link up", link.description)
    }

    /// Brings a link down.
    public func setDown(_ link: LinkRef) throws {
        try setLink(link, LinkChange(up: false), "set link down", link.description)
    }

    public func setMTU(_ link: LinkRef, _ mtu: Int) throws {
        try setLink(link, LinkChange(mtu: mtu), "set mtu", "\(link), \(mtu)")
    }

    public func setMAC(_ link: LinkRef, _ mac: MACAddress) throws {
        try setLink(link, LinkChange(mac: mac), "set mac", "\(link), \(mac)")
    }

    /// Attaches a link to a bridge.
    public func setMaster(_ link: LinkRef, _ bridge: LinkRef) throws {
        try setLink(link, LinkChange(master: .link(bridge)), "set master", "\(link), \(bridge)")
    }

    /// Detaches a link from its bridge.
    public func setNoMaster(_ link: LinkRef) throws {
        try setLink(link, LinkChange(master: LinkChange.Master.none), "set nomaster", link.description)
    }

    /// Renames a link. Kernels before 6.2 refuse while it is up (`Device or resource busy`).
    public func rename(_ link: LinkRef, to name: String) throws {
        try setLink(link, LinkChange(name: name), "rename", "\(link), \(name)")
    }

    /// Brings `lo` up: a new network namespace starts with it down.
    public func setLoopbackUp() throws {
        try setUp("lo")
    }

    // MARK: Helpers

    private func appendTarget(_ link: LinkRef, to request: inout NetlinkRequest, _ operation: String) throws {
        switch link {
        case .index(let index):
            request.appendIfinfomsg(index: index)
        case .name(let name):
            try Self.checkInterfaceName(name, operation)
            request.appendIfinfomsg()
            request.attribute(IFLA.ifname, string: name)
        }
    }

    /// The kernel's rule (dev_valid_name), checked first so that the error
    /// says what is wrong rather than a bare "Invalid argument".
    static func checkInterfaceName(_ name: String, _ operation: String) throws {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 15, name != ".", name != "..",
              !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7F })
        else {
            throw KernelError(operation, name, errno: .invalidArgument,
                              detail: "an interface name is 1 to 15 bytes, without '/', ':' or whitespace")
        }
    }

    func decoded<T>(_ operation: String, _ object: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as NetlinkMessage.Malformed {
            throw KernelError(operation, object, detail: error.description)
        }
    }
}
