/// An IPv4 address on a link, as the kernel reports it (RTM_NEWADDR).
public struct LinkAddress: Hashable, Sendable {
    /// The index of the link that has it.
    public var linkIndex: Int32
    /// The address with its prefix length: `10.88.1.10/24`.
    public var prefix: IPv4Prefix
    /// IFA_BROADCAST, when set.
    public var broadcast: IPv4?
    /// IFA_LABEL: the link's name, or `name:alias`.
    public var label: String?
    /// RT_SCOPE_*: 0 universe, 253 link, 254 host (127.0.0.1).
    public var scope: UInt8
    /// IFA_F_* flags (IFA_FLAGS when present, else the 8-bit header field).
    public var flags: UInt32

    public init(linkIndex: Int32, prefix: IPv4Prefix, broadcast: IPv4? = nil, label: String? = nil,
                scope: UInt8 = 0, flags: UInt32 = 0) {
        self.linkIndex = linkIndex
        self.prefix = prefix
        self.broadcast = broadcast
        self.label = label
        self.scope = scope
        self.flags = flags
    }

    /// Decodes an RTM_NEWADDR message of family AF_INET: `struct ifaddrmsg`
    /// then IFA_* attributes. Returns nil for other families.
    public init?(message: NetlinkMessage) throws(NetlinkMessage.Malformed) {
        let payload = message.payload
        guard message.type == RTM.newAddr, let family = payload.integer(at: 0, as: UInt8.self),
              let length = payload.integer(at: 1, as: UInt8.self), let headerFlags = payload.integer(at: 2, as: UInt8.self),
              let scope = payload.integer(at: 3, as: UInt8.self), let index = payload.integer(at: 4, as: Int32.self) else {
            throw NetlinkMessage.Malformed(reason: "address message of type \(message.type), \(payload.count) bytes")
        }
        guard family == addressFamilyINet else { return nil }
        let attributes = message.attributes(after: RTM.ifaddrmsgSize)
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's
        // on point-to-point links and the same as IFA_LOCAL everywhere else.
        guard let address = attributes.ipv4(IFA.local) ?? attributes.ipv4(IFA.address), length <= 32 else {
            throw NetlinkMessage.Malformed(reason: "IPv4 address on link \(index) without IFA_LOCAL")
        }
        self.init(linkIndex: index, prefix: IPv4Prefix(address, length), broadcast: attributes.ipv4(IFA.broadcast),
                  label: attributes.string(IFA.label), scope: scope,
                  flags: attributes.uint32(IFA.flags) ?? UInt32(headerFlags))
    }
}

extension RouteNetlink {
    /// Adds an IPv4 address to a link, with the subnet's broadcast address
    /// unless `broadcast` says otherwise (none on /31 and /32). The kernel
    /// adds the subnet's route on the link by itself.
    ///
    /// - Throws: `add address(10.88.1.10/24 dev eth0): File exists` when the link has it already.
    public func addAddress(_ address: IPv4Prefix, to link: LinkRef, broadcast: IPv4? = nil) throws {
        let object = "\(address) dev \(link)"
        let index = try index(of: link, "add address", object)
        var request = NetlinkRequest(type: RTM.newAddr, flags: NL.create | NL.exclusive)
        request.appendIfaddrmsg(family: addressFamilyINet, prefixLength: address.length, index: index)
        request.attribute(IFA.local, bytes: address.address.bytes)
        request.attribute(IFA.address, bytes: address.address.bytes)
        if let broadcast = broadcast ?? address.broadcast {
            request.attribute(IFA.broadcast, bytes: broadcast.bytes)
        }
        try socket.execute(request, "add address", object)
    }

    /// Removes an IPv4 address from a link.
    ///
    /// Removing a subnet's primary address (the first added) removes its
    /// secondaries too, unless the `promote_secondaries` sysctl of the link is
    /// set: to change an address in place, delete the old one before adding
    /// the new one.
    ///
    /// - Throws: `delete address(...): Cannot assign requested address` when the link does not have it.
    public func deleteAddress(_ address: IPv4Prefix, from link: LinkRef) throws {
        let object = "\(address) dev \(link)"
        let index = try index(of: link, "delete address", object)
        var request = NetlinkRequest(type: RTM.delAddr)
        request.appendIfaddrmsg(family: addressFamilyINet, prefixLength: address.length, index: index)
        request.attribute(IFA.local, bytes: address.address.bytes)
        try socket.execute(request, "delete address", object)
    }

    /// The IPv4 addresses of the namespace, or of one link.
    public func addresses(on link: LinkRef? = nil) throws -> [LinkAddress] {
        let object = link?.description ?? ""
        let index = try link.map { try self.index(of: $0, "dump addresses", object) }
        var request = NetlinkRequest(type: RTM.getAddr)
        // With NETLINK_GET_STRICT_CHK the kernel filters on ifa_index itself;
        // older kernels send everything, hence the filter below as well.
        request.appendIfaddrmsg(family: addressFamilyINet, index: index ?? 0)
        return try socket.dump(request, "dump addresses", object).compactMap { message in
            guard message.type == RTM.newAddr else { return nil }
            let address = try decoded("dump addresses", object) {
                try LinkAddress(message: message)
            }
            guard let address, index == nil || address.linkIndex == index else { return nil }
            return address
        }
    }
}
