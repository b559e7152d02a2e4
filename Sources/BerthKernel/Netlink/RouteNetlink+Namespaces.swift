import Glibc
import SystemPackage

// Reading other network namespaces from this one: the kernel names each peer
// namespace by an id local to the reader (its "nsid"), and link and address
// requests accept that id as a target (IFLA_TARGET_NETNSID since Linux 4.15,
// IFA_TARGET_NETNSID since 4.20). One socket in the host's namespace then
// reads every container's side of its veths, without a thread that enters
// the namespace, a setns(2) and a socket per container.

/// rtnetlink numbers for namespace ids (linux/net_namespace.h, linux/rtnetlink.h).
enum NETNSA {
    static let nsid: UInt16 = 1
    static let pid: UInt16 = 2
    static let fd: UInt16 = 3
    /// NETNSA_NSID_NOT_ASSIGNED
    static let notAssigned: Int32 = -1
}

extension RTM {
    static let newNSID: UInt16 = 88
    static let getNSID: UInt16 = 90
    /// struct rtgenmsg, padded to NLMSG_ALIGN.
    static let rtgenmsgSize = 4
}

extension IFLA {
    static let targetNetNSID: UInt16 = 46
}

extension IFA {
    static let targetNetNSID: UInt16 = 10
}

/// Another network namespace as this socket's namespace names it.
public enum NamespaceRef: Sendable, CustomStringConvertible {
    /// The namespace of a process (`/proc/PID/ns/net`), named to the kernel by pid.
    case process(Int32)
    /// A namespace held open by a descriptor.
    case namespace(NetworkNamespace)

    public var description: String {
        switch self {
        case .process(let pid): "/proc/\(pid)/ns/net"
        case .namespace(let namespace): namespace.label
        }
    }
}

extension RouteNetlink {
    /// The id this socket's namespace gives `peer`, assigned first when it has none
    /// (the kernel keeps the id while both namespaces live, and drops it with them).
    ///
    /// - Throws: `get namespace id(/proc/PID/ns/net): No such process` when the
    ///   process is gone.
    public func namespaceID(of peer: NamespaceRef) throws -> Int32 {
        if let id = try assignedNamespaceID(of: peer) { return id }
        var request = NetlinkRequest(type: RTM.newNSID)
        Self.appendPeer(peer, to: &request)
        request.attribute(NETNSA.nsid, NETNSA.notAssigned)
        do {
            try socket.execute(request, "assign namespace id", peer.description)
        } catch let error as KernelError where error.errno == .fileExists {
            // Another reader assigned one meanwhile: that one is read below.
        }
        guard let id = try assignedNamespaceID(of: peer) else {
            throw KernelError("assign namespace id", peer.description, detail: "the kernel kept no id")
        }
        return id
    }

    /// The id this socket's namespace gives `peer`, or nil when none is assigned yet.
    public func assignedNamespaceID(of peer: NamespaceRef) throws -> Int32? {
        var request = NetlinkRequest(type: RTM.getNSID)
        Self.appendPeer(peer, to: &request)
        let reply = try socket.get(request, "get namespace id", peer.description)
        let id = try decoded("get namespace id", peer.description) { () throws -> Int32 in
            guard reply.type == RTM.newNSID,
                  let id = reply.attributes(after: RTM.rtgenmsgSize).int32(NETNSA.nsid) else {
                throw NetlinkMessage.Malformed(reason: "namespace id reply of type \(reply.type) without NETNSA_NSID")
            }
            return id
        }
        return id == NETNSA.notAssigned ? nil : id
    }

    /// The link named `name` in the namespace this socket names `namespaceID`, or nil when
    /// that namespace has none. One request, not a dump: the kernel sizes every link dump
    /// by walking each link of the *reader's* namespace (rtnl_calcit), so a dump per
    /// container cost as many steps as the host has links, and a project's observation
    /// grew with the square of its containers.
    public func link(named name: String, inNamespace namespaceID: Int32) throws -> Link? {
        try Self.checkInterfaceName(name, "get link")
        let object = "\(name) in netnsid \(namespaceID)"
        var request = NetlinkRequest(type: RTM.getLink)
        request.appendIfinfomsg()
        request.attribute(IFLA.ifname, string: name)
        request.attribute(IFLA.extMask, IFLA.rtextFilterSkipStats)
        request.attribute(IFLA.targetNetNSID, namespaceID)
        let reply: NetlinkMessage
        do {
            reply = try socket.get(request, "get link", object)
        } catch let error as KernelError where error.errno == .operationNotSupportedByDevice {
            return nil
        }
        return try decoded("get link", object) { try Link(message: reply) }
    }

    /// The IPv4 addresses of the namespace this socket names `namespaceID`.
    public func addresses(inNamespace namespaceID: Int32) throws -> [LinkAddress] {
        let object = "netnsid \(namespaceID)"
        var request = NetlinkRequest(type: RTM.getAddr)
        request.appendIfaddrmsg(family: addressFamilyINet)
        request.attribute(IFA.targetNetNSID, namespaceID)
        return try socket.dump(request, "dump addresses", object).compactMap { message in
            guard message.type == RTM.newAddr else { return nil }
            return try decoded("dump addresses", object) { try LinkAddress(message: message) }
        }
    }

    private static func appendPeer(_ peer: NamespaceRef, to request: inout NetlinkRequest) {
        request.append(UInt8(AF_UNSPEC))
        request.append(bytes: [0, 0, 0])
        switch peer {
        case .process(let pid): request.attribute(NETNSA.pid, UInt32(bitPattern: pid))
        case .namespace(let namespace): request.attribute(NETNSA.fd, UInt32(bitPattern: namespace.descriptor.rawValue))
        }
    }
}
