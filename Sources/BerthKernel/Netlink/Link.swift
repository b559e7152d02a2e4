/// A network interface as the kernel reports it (RTM_NEWLINK).
public struct Link: Hashable, Sendable {
    /// The interface index, unique within its network namespace.
    public var index: Int32
    public var name: String
    /// IFLA_INFO_KIND: "bridge", "veth", ...; nil for devices that have no
    /// link type (loopback, most physical NICs).
    public var kind: String?
    /// IFLA_INFO_SLAVE_KIND: "bridge" on a bridge port.
    public var portKind: String?
    /// IFLA_MASTER: the index of the bridge this link is attached to.
    public var masterIndex: Int32?
    public var mtu: Int
    /// IFLA_ADDRESS; nil when the device has no hardware address.
    public var mac: MACAddress?
    /// The IFF_* flags (IFF_UP = 0x1, IFF_LOWER_UP = 0x10000, ...).
    public var flags: UInt32
    public var operState: OperState
    /// IFLA_LINK: for a veth, the index of its peer, which lives in the
    /// namespace ``peerNamespaceID`` names when that is set. Nil when the
    /// peer's index equals this link's own: the kernel leaves IFLA_LINK out then.
    public var peerIndex: Int32?
    /// IFLA_LINK_NETNSID: the id, in this namespace, of the namespace the
    /// peer lives in; nil when the peer is in the same namespace.
    public var peerNamespaceID: Int32?

    /// Administratively up (IFF_UP).
    public var isUp: Bool { flags & IFF.up != 0 }
    /// Has carrier (IFF_LOWER_UP): for a veth, both ends are up.
    public var hasCarrier: Bool { flags & IFF.lowerUp != 0 }

    /// RFC 2863 operational state (IFLA_OPERSTATE).
    public enum OperState: UInt8, Sendable {
        case unknown = 0, notPresent, down, lowerLayerDown, testing, dormant, up
    }

    public init(index: Int32, name: String, kind: String? = nil, portKind: String? = nil, masterIndex: Int32? = nil,
                mtu: Int, mac: MACAddress? = nil, flags: UInt32 = 0, operState: OperState = .unknown,
                peerIndex: Int32? = nil, peerNamespaceID: Int32? = nil) {
        self.index = index
        self.name = name
        self.kind = kind
        self.portKind = portKind
        self.masterIndex = masterIndex
        self.mtu = mtu
        self.mac = mac
        self.flags = flags
        self.operState = operState
        self.peerIndex = peerIndex
        self.peerNamespaceID = peerNamespaceID
    }

    /// Decodes an RTM_NEWLINK message: `struct ifinfomsg` then IFLA_* attributes.
    public init(message: NetlinkMessage) throws(NetlinkMessage.Malformed) {
        let payload = message.payload
        guard message.type == RTM.newLink, let index = payload.integer(at: 4, as: Int32.self),
              let flags = payload.integer(at: 8, as: UInt32.self) else {
            throw NetlinkMessage.Malformed(reason: "link message of type \(message.type), \(payload.count) bytes")
        }
        let attributes = message.attributes(after: RTM.ifinfomsgSize)
        guard let name = attributes.string(IFLA.ifname) else {
            throw NetlinkMessage.Malformed(reason: "link \(index) without IFLA_IFNAME")
        }
        let info = attributes.nested(IFLA.linkInfo)
        let mac = attributes[IFLA.address].flatMap { $0.count == 6 ? MACAddress(bytes: Array($0)) : nil }
        let link = attributes.int32(IFLA.link)
        self.init(
            index: index, name: name,
            kind: info?.string(IFLA.infoKind), portKind: info?.string(IFLA.infoSlaveKind),
            masterIndex: attributes.int32(IFLA.master).flatMap { $0 == 0 ? nil : $0 },
            mtu: Int(attributes.uint32(IFLA.mtu) ?? 0), mac: mac, flags: flags,
            operState: attributes.uint8(IFLA.operState).flatMap(OperState.init(rawValue:)) ?? .unknown,
            // A device that is not stacked on another reports itself, or 0.
            peerIndex: link.flatMap { $0 == 0 || $0 == index ? nil : $0 },
            peerNamespaceID: attributes.int32(IFLA.linkNetNSID))
    }
}

/// Names a link in requests: by name, or by index.
///
/// The kernel looks either up itself for link requests (IFLA_IFNAME with
/// index 0); requests that need an index (addresses, routes, master) resolve a
/// name with one RTM_GETLINK first.
public enum LinkRef: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    case name(String)
    case index(Int32)

    public init(stringLiteral name: String) { self = .name(name) }

    public var description: String {
        switch self {
        case .name(let name): name
        case .index(let index): "ifindex \(index)"
        }
    }
}

/// What to change on an existing link in one RTM_NEWLINK request; nil leaves
/// a field as it is.
public struct LinkChange: Sendable, Hashable {
    /// Set IFF_UP (true) or clear it (false).
    public var up: Bool?
    public var mtu: Int?
    public var mac: MACAddress?
    /// Attach to this bridge (`.index`/`.name`), or detach with ``Master/none``.
    public var master: Master?
    /// A new name; the kernel refuses to rename a link that is up.
    public var name: String?

    public enum Master: Sendable, Hashable {
        case none
        case link(LinkRef)
    }

    public init(up: Bool? = nil, mtu: Int? = nil, mac: MACAddress? = nil, master: Master? = nil, name: String? = nil) {
        self.up = up
        self.mtu = mtu
        self.mac = mac
        self.master = master
        self.name = name
    }
}
