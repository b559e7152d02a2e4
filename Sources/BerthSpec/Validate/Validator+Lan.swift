/// The fields of a network's mode (lan, macvlan): which keys each mode takes, the NIC,
/// and `ipRange`.
extension Validator {
    /// The lan fields of one network, as read.
    struct ModeFields {
        var mode: NetworkMode = .bridge
        var uplink: String?
        var ipRange: IPv4CIDR?
        var hostAccess = false
    }

    /// Keys that only some modes take; a key of another mode is an error at the key.
    /// `nil` from here means an error was reported (the network is not built).
    func checkModeFields(_ fields: Fields, path: String, keyLocation: SourceLocation,
                         subnet: IPv4CIDR?, gateway: IPv4Address?) -> ModeFields? {
        var out = ModeFields()
        var ok = true
        if let m = fields["mode"] {
            let mpath = join(path, "mode")
            if let text = string(m.value, mpath) {
                if let mode = NetworkMode(rawValue: text) {
                    out.mode = mode
                } else {
                    error(m.value.location, mpath, "\(quoted(text)) is not a network mode",
                          hint: "use one of: " + NetworkMode.allCases.map(\.rawValue).joined(separator: ", "))
                    return nil
                }
            } else {
                return nil
            }
        }
        let mode = out.mode
        // Keys that mean nothing for this mode, with why.
        var refused: [(String, String)] = []
        switch mode {
        case .bridge:
            refused = [("uplink", "only a lan network has an uplink"), ("parent", "only a macvlan network has a parent"),
                       ("hostAccess", "only a macvlan network needs host access (the host reaches its bridges)")]
        case .lan:
            refused = [("parent", "a lan network names its NIC with uplink:"),
                       ("masquerade", "a lan network is the LAN itself: its containers have addresses of the LAN, without NAT"),
                       ("mtu", "the bridge of a lan network takes the MTU of its uplink"),
                       ("hostAccess", "the host reaches the containers of a lan network through its bridge")]
        case .macvlan:
            refused = [("uplink", "a macvlan network names its NIC with parent:"),
                       ("masquerade", "a macvlan network is the LAN itself: its containers have addresses of the LAN, without NAT"),
                       ("bridge", "a macvlan network has no bridge: each container gets a macvlan child of the parent")]
        }
        for (key, why) in refused {
            if let entry = fields[key] {
                error(entry.key.location, join(path, key), "\(key) is not allowed on a \(mode.rawValue) network: \(why)")
                ok = false
            }
        }
        if mode.isOnTheLAN {
            let key = mode == .lan ? "uplink" : "parent"
            if let u = fields[key] {
                let upath = join(path, key)
                if let text = string(u.value, upath) {
                    if let problem = Names.interfaceNameProblem(text) {
                        error(u.value.location, upath, "the interface name \(quoted(text)) \(problem)")
                        ok = false
                    } else {
                        out.uplink = text
                        uplinkFacts.append(UplinkFacts(network: String(path.dropFirst("networks.".count)), uplink: text, location: u.value.location, path: upath))
                    }
                } else {
                    ok = false
                }
            } else {
                error(keyLocation, path, "a \(mode.rawValue) network needs \(key): the host NIC it is built on",
                      hint: "add e.g. `\(key): eth1`")
                ok = false
            }
            if fields["gateway"] == nil {
                error(keyLocation, path, "a \(mode.rawValue) network needs gateway: the LAN's router",
                      hint: "the address of the router of the LAN, which becomes the containers' default gateway")
                ok = false
            }
        }
        if mode == .macvlan, let h = fields["hostAccess"] {
            if let b = bool(h.value, join(path, "hostAccess")) { out.hostAccess = b } else { ok = false }
        }
        if let r = fields["ipRange"] {
            let rpath = join(path, "ipRange")
            if let text = string(r.value, rpath) {
                if let range = IPv4CIDR(text), range.prefix <= 32 {
                    if let subnet, !(subnet.contains(range.network) && subnet.contains(range.broadcast)) {
                        error(r.value.location, rpath, "\(range) is not inside the subnet \(subnet)")
                        ok = false
                    } else if mode.isOnTheLAN, let gateway, range.contains(gateway) {
                        error(r.value.location, rpath, "\(range) holds the router \(gateway)",
                              hint: "berth hands out every address of the range: keep the router and the LAN's other machines out of it")
                        ok = false
                    } else {
                        out.ipRange = range
                    }
                } else {
                    error(r.value.location, rpath, "\(quoted(text)) is not an IPv4 range",
                          hint: "use CIDR notation with the host bits zero, e.g. 192.168.50.200/29")
                    ok = false
                }
            } else {
                ok = false
            }
        }
        return ok ? out : nil
    }

    /// Where a NIC was named, for the checks across networks.
    struct UplinkFacts {
        var network: String
        var uplink: String
        var location: SourceLocation
        var path: String
    }

    /// The network a container's published ports go to (its first), and where `ports:` is.
    struct PortNetworkFacts {
        var network: String
        var location: SourceLocation
        var path: String
    }

    /// One NIC carries one lan network (it can be enslaved to one bridge only); macvlan
    /// networks may share a parent, but not with a lan network (its NIC is then a port).
    func checkUplinksAreUnique() {
        var owners: [String: (network: String, lan: Bool)] = [:]
        for facts in uplinkFacts {
            let isLan = facts.path.hasSuffix(".uplink")
            if let first = owners[facts.uplink], isLan || first.lan {
                error(facts.location, facts.path, "the NIC \(facts.uplink) is already used by network \(first.network)",
                      hint: "a NIC that joins a lan network's bridge carries that network only")
            } else if owners[facts.uplink] == nil {
                owners[facts.uplink] = (facts.network, isLan)
            }
        }
    }

    /// On lan and macvlan networks only `ipRange` is berth's to hand out: an attachment
    /// without a static address needs one. Published ports go to the container's first
    /// network, which must then be a bridge network.
    func checkLanAttachments(_ byName: [String: Network]) {
        for facts in attachmentFacts where facts.ip == nil {
            guard let network = byName[facts.network], network.mode.isOnTheLAN, network.ipRange == nil else { continue }
            error(facts.location, facts.path,
                  "network \(network.name) is a \(network.mode.rawValue) network without ipRange: give the container a static address",
                  hint: "write `\(network.name): {ip: ...}`, or give the network an ipRange: the part of the LAN berth may hand out")
        }
        for facts in firstNetworkOfPorts {
            guard let network = byName[facts.network], network.mode.isOnTheLAN else { continue }
            error(facts.location, facts.path,
                  "published ports go to the container's first network, and \(network.name) is a \(network.mode.rawValue) network: "
                    + "the container's own address is reachable from the LAN already",
                  hint: "remove ports:, or list a bridge network first")
        }
    }
}
