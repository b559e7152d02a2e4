extension Validator {
    /// The rules that involve more than one field: every one runs in n log n or better,
    /// so that a spec with thousands of containers validates in milliseconds.
    func checkAcrossFields() {
        checkSubnetsDoNotOverlap()
        checkBridgesAreUnique()
        checkAttachments()
        checkPortsAreUnique()
        checkUplinksAreUnique()
        checkLanAttachments(Dictionary(networkFacts.map { ($0.network.name, $0.network) }, uniquingKeysWith: { a, _ in a }))
    }

    private func checkSubnetsDoNotOverlap() {
        // Sweep the subnets by start address; each one must start after every earlier one ends.
        let order = networkFacts.indices.sorted {
            let a = networkFacts[$0].network.subnet, b = networkFacts[$1].network.subnet
            return (a.network.value, a.prefix) < (b.network.value, b.prefix)
        }
        var widest: Int?
        for i in order {
            let subnet = networkFacts[i].network.subnet
            if let w = widest {
                let other = networkFacts[w].network.subnet
                if subnet.network.value <= other.broadcast.value {
                    // Report on whichever of the two comes later in the file.
                    let (later, earlier) = networkFacts[i].subnetLocation > networkFacts[w].subnetLocation ? (i, w) : (w, i)
                    let facts = networkFacts[later]
                    error(facts.subnetLocation, "networks.\(facts.network.name).subnet",
                          "\(facts.network.subnet) overlaps \(networkFacts[earlier].network.subnet) of network \(networkFacts[earlier].network.name)")
                }
                if subnet.broadcast.value > other.broadcast.value { widest = i }
            } else {
                widest = i
            }
        }
    }

    private func checkBridgesAreUnique() {
        var owners: [String: Int] = [:]
        for (i, facts) in networkFacts.enumerated() {
            let bridge = facts.network.bridge
            if let first = owners[bridge] {
                let path = "networks.\(facts.network.name)" + (facts.bridgeLocation != nil ? ".bridge" : "")
                error(facts.bridgeLocation ?? facts.keyLocation, path,
                      "the bridge \(bridge) is already used by network \(networkFacts[first].network.name)")
            } else {
                owners[bridge] = i
            }
        }
    }

    private func checkAttachments() {
        var byName: [String: Network] = [:]
        for facts in networkFacts { byName[facts.network.name] = facts.network }
        var used: [IPv4Address: String] = [:]
        let declared = Set(declaredNetworks)
        var counts: [String: Int] = [:]
        for facts in attachmentFacts {
            guard let network = byName[facts.network] else {
                // A declared network with errors of its own has been reported already.
                if declared.contains(facts.network) { continue }
                error(facts.location, facts.path, "no network named \(quoted(facts.network)) is declared",
                      hint: Suggestions.hint(for: facts.network, among: declaredNetworks)
                        ?? (declaredNetworks.isEmpty ? "declare it under the top-level networks:"
                            : declaredNetworks.count <= 10 ? "declared: \(declaredNetworks.joined(separator: ", "))" : nil))
                continue
            }
            let subnet = network.subnet
            counts[network.name, default: 0] += 1
            // Every host address but the gateway can go to a container.
            let room = Int(subnet.broadcast.value - subnet.network.value) - 2
            if counts[network.name]! == room + 1 {
                error(facts.location, facts.path,
                      "network \(network.name) (\(subnet)) has room for \(room) container\(room == 1 ? "" : "s"), and this is one more")
            }
            guard let ip = facts.ip else { continue }
            if !subnet.contains(ip) {
                error(facts.location, facts.path, "\(ip) is outside network \(network.name) (\(subnet))")
            } else if ip == subnet.network {
                error(facts.location, facts.path, "\(ip) is the network address of \(subnet)")
            } else if ip == subnet.broadcast {
                error(facts.location, facts.path, "\(ip) is the broadcast address of \(subnet)")
            } else if ip == network.gateway {
                error(facts.location, facts.path, "\(ip) is the gateway of network \(network.name)")
            } else if let owner = used[ip] {
                error(facts.location, facts.path, "\(ip) is already the address of container \(owner)")
            } else {
                used[ip] = facts.container
            }
        }
    }
}
