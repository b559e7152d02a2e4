import Glibc
import SystemPackage

/// What an rtnetlink or nftables notification said changed.
public enum NetworkChange: Sendable, Hashable {
    /// A link was created, changed or removed, in the host's namespace (`namespaceID`
    /// nil) or in the namespace the host names by that id.
    case link(namespaceID: Int32?, index: Int32, name: String?)
    /// An IPv4 address was added to or removed from the link of that index.
    case address(namespaceID: Int32?, index: Int32)
    /// An IPv4 route was added or removed.
    case route(namespaceID: Int32?)
    /// An nftables table, chain, set or rule changed (anyone's).
    case firewall
}

/// rtnetlink's multicast groups for links, IPv4 addresses and IPv4 routes, heard in
/// the host's namespace and, through NETLINK_LISTEN_ALL_NSID, in every namespace the
/// host has an id for (the containers' ones: observing a container assigns one), plus
/// nftables' group; read without blocking by ``EventWaiter``.
final class NetworkEventSockets {
    let route: Int32
    let netfilter: Int32

    // linux/rtnetlink.h, linux/netlink.h, linux/netfilter/nfnetlink.h
    static let groupLink: Int32 = 1            // RTNLGRP_LINK
    static let groupIPv4Address: Int32 = 5     // RTNLGRP_IPV4_IFADDR
    static let groupIPv4Route: Int32 = 7       // RTNLGRP_IPV4_ROUTE
    static let groupNftables: Int32 = 7        // NFNLGRP_NFTABLES
    static let addMembership: Int32 = 1        // NETLINK_ADD_MEMBERSHIP
    static let listenAllNSID: Int32 = 8        // NETLINK_LISTEN_ALL_NSID
    static let netfilterProtocol: Int32 = 12   // NETLINK_NETFILTER

    init() throws {
        let route = try Self.open(NL.route, groups: [Self.groupLink, Self.groupIPv4Address, Self.groupIPv4Route],
                                  what: "rtnetlink events")
        var on: Int32 = 1
        guard setsockopt(route, NL.solNetlink, Self.listenAllNSID, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let error = Errno(rawValue: errno)
            close(route)
            throw KernelError("setsockopt(NETLINK_LISTEN_ALL_NSID)", "rtnetlink events", errno: error)
        }
        let netfilter: Int32
        do {
            netfilter = try Self.open(Self.netfilterProtocol, groups: [Self.groupNftables], what: "nftables events")
        } catch {
            close(route)
            throw error
        }
        self.route = route
        self.netfilter = netfilter
    }

    deinit {
        close(route)
        close(netfilter)
    }

    private static func open(_ netlinkProtocol: Int32, groups: [Int32], what: String) throws -> Int32 {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                        netlinkProtocol)
        guard fd >= 0 else { throw KernelError("socket", what, errno: Errno(rawValue: errno)) }
        var address = sockaddr_storage()
        withUnsafeMutableBytes(of: &address) { $0.storeBytes(of: sa_family_t(AF_NETLINK), toByteOffset: 0, as: sa_family_t.self) }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, 12) } }
        guard bound == 0 else {
            let error = Errno(rawValue: errno)
            close(fd)
            throw KernelError("bind", what, errno: error)
        }
        // A burst (a hundred containers started) must not overflow the queue: 4 MiB.
        var size: Int32 = 4 << 20
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        for group in groups {
            var group = group
            guard setsockopt(fd, NL.solNetlink, addMembership, &group, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                let error = Errno(rawValue: errno)
                close(fd)
                throw KernelError("setsockopt(NETLINK_ADD_MEMBERSHIP \(group))", what, errno: error)
            }
        }
        return fd
    }

    /// Everything queued on the rtnetlink socket; nil when the kernel dropped some
    /// (ENOBUFS: the queue overflowed).
    func drainRoute() -> Set<NetworkChange>? {
        var changes: Set<NetworkChange> = []
        var lost = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var control = [UInt8](repeating: 0, count: 64)
        while true {
            var namespaceID: Int32?
            let n = buffer.withUnsafeMutableBytes { data in
                control.withUnsafeMutableBytes { cmsg in
                    var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                    return withUnsafeMutablePointer(to: &iov) { iovp in
                        var message = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: iovp, msg_iovlen: 1,
                                             msg_control: cmsg.baseAddress, msg_controllen: cmsg.count, msg_flags: 0)
                        let n = recvmsg(route, &message, 0)
                        // struct cmsghdr { size_t len; int level; int type; } then the nsid, an int.
                        if n > 0, message.msg_controllen >= 20,
                           cmsg.load(fromByteOffset: 8, as: Int32.self) == NL.solNetlink,
                           cmsg.load(fromByteOffset: 12, as: Int32.self) == Self.listenAllNSID {
                            namespaceID = cmsg.load(fromByteOffset: 16, as: Int32.self)
                        }
                        return n
                    }
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOBUFS { lost = true; continue }
                break
            }
            if n == 0 { break }
            guard let messages = try? NetlinkMessage.split(buffer[0..<n]) else { continue }
            for message in messages {
                if let change = Self.change(message, namespaceID: namespaceID) { changes.insert(change) }
            }
        }
        return lost ? nil : changes
    }

    /// True when anything was queued on the nftables socket (ENOBUFS counts: something changed).
    func drainNetfilter() -> Bool {
        var any = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(netfilter, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOBUFS { any = true; continue }
                break
            }
            if n == 0 { break }
            any = true
        }
        return any
    }

    static func change(_ message: NetlinkMessage, namespaceID: Int32?) -> NetworkChange? {
        switch message.type {
        case RTM.newLink, RTM.delLink:
            guard let index = message.payload.integer(at: 4, as: Int32.self) else { return nil }
            let name = message.attributes(after: RTM.ifinfomsgSize).string(IFLA.ifname)
            return .link(namespaceID: namespaceID, index: index, name: name)
        case RTM.newAddr, RTM.delAddr:
            guard message.payload.integer(at: 0, as: UInt8.self) == addressFamilyINet,
                  let index = message.payload.integer(at: 4, as: Int32.self) else { return nil }
            return .address(namespaceID: namespaceID, index: index)
        case RTM.newRoute, RTM.delRoute:
            guard message.payload.integer(at: 0, as: UInt8.self) == addressFamilyINet else { return nil }
            return .route(namespaceID: namespaceID)
        default:
            return nil
        }
    }
}
