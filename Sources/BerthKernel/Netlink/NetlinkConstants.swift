// Numbers from the kernel's uapi headers (linux/netlink.h, linux/rtnetlink.h,
// linux/if_link.h, linux/if_addr.h, linux/veth.h). Glibc does not export these
// to Swift, and they are part of the kernel ABI, so they never change.

/// linux/netlink.h
enum NL {
    static let route: Int32 = 0               // NETLINK_ROUTE
    static let solNetlink: Int32 = 270        // SOL_NETLINK
    static let capAck: Int32 = 10             // NETLINK_CAP_ACK
    static let extAck: Int32 = 11             // NETLINK_EXT_ACK
    static let strictCheck: Int32 = 12        // NETLINK_GET_STRICT_CHK

    // Message types below 0x10 are netlink's own.
    static let noop: UInt16 = 1
    static let error: UInt16 = 2
    static let done: UInt16 = 3
    static let overrun: UInt16 = 4

    // nlmsghdr.nlmsg_flags
    static let request: UInt16 = 0x01
    static let multi: UInt16 = 0x02
    static let ack: UInt16 = 0x04
    static let dumpInterrupted: UInt16 = 0x10
    static let dump: UInt16 = 0x300           // NLM_F_ROOT | NLM_F_MATCH
    static let replace: UInt16 = 0x100
    static let exclusive: UInt16 = 0x200
    static let create: UInt16 = 0x400
    // ...on NLMSG_ERROR
    static let capped: UInt16 = 0x100
    static let ackTLVs: UInt16 = 0x200

    // struct nlmsgerr extended-ack attributes
    static let errAttrMessage: UInt16 = 1
    static let errAttrOffset: UInt16 = 2

    static let headerSize = 16                // struct nlmsghdr
    static let attributeHeaderSize = 4        // struct nlattr / rtattr
    // NLA_F_NESTED and NLA_F_NET_BYTEORDER ride in the attribute type.
    static let attributeTypeMask: UInt16 = 0x3FFF
}

/// linux/rtnetlink.h and friends.
enum RTM {
    static let newLink: UInt16 = 16
    static let delLink: UInt16 = 17
    static let getLink: UInt16 = 18
    static let newAddr: UInt16 = 20
    static let delAddr: UInt16 = 21
    static let getAddr: UInt16 = 22
    static let newRoute: UInt16 = 24
    static let delRoute: UInt16 = 25
    static let getRoute: UInt16 = 26

    static let ifinfomsgSize = 16
    static let ifaddrmsgSize = 8
    static let rtmsgSize = 12
}

/// IFLA_* (struct ifinfomsg attributes), linux/if_link.h.
enum IFLA {
    static let address: UInt16 = 1
    static let broadcast: UInt16 = 2
    static let ifname: UInt16 = 3
    static let mtu: UInt16 = 4
    static let link: UInt16 = 5
    static let master: UInt16 = 10
    static let operState: UInt16 = 16
    static let linkInfo: UInt16 = 18
    static let netNSPID: UInt16 = 19
    static let netNSFD: UInt16 = 28
    static let extMask: UInt16 = 29
    static let linkNetNSID: UInt16 = 37

    // Nested in IFLA_LINKINFO.
    static let infoKind: UInt16 = 1
    static let infoData: UInt16 = 2
    static let infoSlaveKind: UInt16 = 4

    // Nested in IFLA_INFO_DATA of a veth, linux/veth.h.
    static let vethInfoPeer: UInt16 = 1

    // IFLA_EXT_MASK: leave the 200-odd bytes of counters out of every dumped link.
    static let rtextFilterSkipStats: UInt32 = 1 << 3
}

/// IFA_* (struct ifaddrmsg attributes), linux/if_addr.h.
enum IFA {
    static let address: UInt16 = 1
    static let local: UInt16 = 2
    static let label: UInt16 = 3
    static let broadcast: UInt16 = 4
    static let flags: UInt16 = 8
}

/// RTA_* (struct rtmsg attributes), linux/rtnetlink.h.
enum RTA {
    static let dst: UInt16 = 1
    static let oif: UInt16 = 4
    static let gateway: UInt16 = 5
    static let priority: UInt16 = 6
    static let prefsrc: UInt16 = 7
    static let table: UInt16 = 15

    static let unicast: UInt8 = 1             // RTN_UNICAST
    static let scopeUniverse: UInt8 = 0
    static let scopeLink: UInt8 = 253
}

/// Interface flags (linux/if.h) that berth reads or sets.
enum IFF {
    static let up: UInt32 = 0x1
    static let loopback: UInt32 = 0x8
    static let lowerUp: UInt32 = 0x10000
}

let addressFamilyINet: UInt8 = 2              // AF_INET
let addressFamilyUnspec: UInt8 = 0
