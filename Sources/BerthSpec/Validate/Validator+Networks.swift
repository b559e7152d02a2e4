extension Validator {
    static let networkKeys = ["subnet", "gateway", "bridge", "mtu", "masquerade",
                              "mode", "uplink", "parent", "ipRange", "hostAccess"]  // lan

    func checkNetworks(_ node: YAMLNode, project: String) -> [Network] {
        guard let entries = namedEntries(of: node, path: "networks", what: "a mapping of network names to networks") else {
            return []
        }
        var networks: [Network] = []
        for entry in entries {
            let name = entry.key.value
            let path = "networks.\(name)"
            declaredNetworks.append(name)
            if let problem = Names.problem(with: name, maxLength: Names.networkMaxLength) {
                error(entry.key.location, path, "the network name \(quoted(name)) \(problem)")
            }
            if let network = checkNetwork(entry, name: name, path: path, project: project) {
                networks.append(network)
            }
        }
        return networks
    }

    private func checkNetwork(_ entry: YAMLNode.Entry, name: String, path: String, project: String) -> Network? {
        guard let fields = fields(of: entry.value, path: path, known: Validator.networkKeys, what: "a network") else {
            return nil
        }
        guard let subnetEntry = fields["subnet"] else {
            error(entry.key.location, path, "missing \"subnet\"", hint: "add e.g. `subnet: 10.88.1.0/24`")
            return nil
        }
        let subnet = checkSubnet(subnetEntry.value, join(path, "subnet"))

        var gateway = subnet?.firstHost
        if let g = fields["gateway"] {
            let gpath = join(path, "gateway")
            gateway = nil
            if let address = ipv4(g.value, gpath), let subnet {
                if !subnet.contains(address) {
                    error(g.value.location, gpath, "\(address) is outside the subnet \(subnet)")
                } else if address == subnet.network {
                    error(g.value.location, gpath, "\(address) is the subnet's network address", hint: "use a host address such as \(subnet.firstHost)")
                } else if address == subnet.broadcast {
                    error(g.value.location, gpath, "\(address) is the subnet's broadcast address", hint: "use a host address such as \(subnet.firstHost)")
                } else {
                    gateway = address
                }
            }
        }

        var bridge: String? = Network.defaultBridgeName(project: project, network: name)
        var bridgeLocation: SourceLocation?
        if let b = fields["bridge"] {
            bridge = nil
            bridgeLocation = b.value.location
            if let text = string(b.value, join(path, "bridge")) {
                if let problem = Names.interfaceNameProblem(text) {
                    error(b.value.location, join(path, "bridge"), "the bridge name \(quoted(text)) \(problem)")
                } else {
                    bridge = text
                }
            }
        }

        var mtu: Int?
        var mtuOK = true
        if let m = fields["mtu"] {
            mtu = integer(m.value, join(path, "mtu"), in: 68...65535)
            mtuOK = mtu != nil
        }

        var masquerade: Bool? = false
        if let m = fields["masquerade"] { masquerade = bool(m.value, join(path, "masquerade")) }

        let modeFields = checkModeFields(fields, path: path, keyLocation: entry.key.location, subnet: subnet, gateway: gateway)

        guard let subnet, let gateway, let bridge, let masquerade, mtuOK, let modeFields else { return nil }
        let network = Network(name: name, subnet: subnet, gateway: gateway, bridge: bridge, mtu: mtu, masquerade: masquerade,
                              mode: modeFields.mode, uplink: modeFields.uplink, ipRange: modeFields.ipRange,
                              hostAccess: modeFields.hostAccess)
        networkFacts.append(NetworkFacts(network: network, keyLocation: entry.key.location,
                                         subnetLocation: subnetEntry.value.location, bridgeLocation: bridgeLocation))
        return network
    }

    /// A subnet: `a.b.c.d/n` with n from 8 to 30 and the host bits zero.
    private func checkSubnet(_ node: YAMLNode, _ path: String) -> IPv4CIDR? {
        guard let text = string(node, path) else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(String(parts[0])),
              !parts[1].isEmpty, parts[1].count <= 2, parts[1].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let prefix = Int(parts[1]), prefix <= 32 else {
            error(node.location, path, "\(quoted(text)) is not an IPv4 subnet", hint: "use CIDR notation, e.g. 10.88.1.0/24")
            return nil
        }
        guard (8...30).contains(prefix) else {
            error(node.location, path, "\(quoted(text)) has a /\(prefix) prefix; a subnet needs /8 to /30")
            return nil
        }
        let cidr = IPv4CIDR(address: address, prefix: prefix)
        guard cidr.network == address else {
            error(node.location, path, "\(quoted(text)) has host bits set", hint: "the network is \(cidr.network)/\(prefix)")
            return nil
        }
        return cidr
    }
}
