extension Validator {
    /// Where a published port was written, for the checks across containers.
    struct PortFacts {
        var container: String
        var port: PublishedPort
        var location: SourceLocation
        var path: String
    }

    /// `ports:` of a container: a list of short-syntax strings. A container that publishes
    /// ports needs a network to publish them from (its first one).
    func checkPorts(_ node: YAMLNode, _ path: String, container: String, networks: [NetworkAttachment],
                    keyLocation: SourceLocation) -> [PublishedPort] {
        guard let items = sequence(node, path, example: "[\"8080:80\", \"127.0.0.1:5432:5432\", \"5353:53/udp\"]") else {
            return []
        }
        var out: [PublishedPort] = []
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            // `8080:80` unquoted is a YAML 1.1 sexagesimal number to some tools; accept any scalar text.
            guard let text = self.text(item, p) else { continue }
            switch PublishedPort.parse(text) {
            case .success(let port):
                out.append(port)
                portFacts.append(PortFacts(container: container, port: port, location: item.location, path: p))
            case .failure(let problem):
                error(item.location, p, problem)
            }
        }
        if !out.isEmpty, let first = networks.first {
            firstNetworkOfPorts.append(PortNetworkFacts(network: first.network, location: keyLocation, path: path))
        }
        if !out.isEmpty, networks.isEmpty {
            error(keyLocation, path, "published ports need a network to reach the container on",
                  hint: "attach the container to a network: the traffic goes to its address on the first one")
        }
        return out
    }

    /// No two published ports, of one container or of two, take the same host port.
    func checkPortsAreUnique() {
        // Sorted by first host port, each compared with the earlier ones whose range still reaches it.
        let order = portFacts.indices.sorted { portFacts[$0].port.hostPorts.lowerBound < portFacts[$1].port.hostPorts.lowerBound }
        var open: [Int] = []
        for i in order {
            let facts = portFacts[i]
            open.removeAll { portFacts[$0].port.hostPorts.upperBound < facts.port.hostPorts.lowerBound }
            for j in open where portFacts[j].port.overlaps(facts.port) {
                let (later, earlier) = facts.location > portFacts[j].location ? (facts, portFacts[j]) : (portFacts[j], facts)
                let owner = earlier.container == later.container ? "this container" : "container \(earlier.container)"
                error(later.location, later.path,
                      "host port \(later.port.proto.rawValue) \(later.port.hostPorts.lowerBound)"
                        + (later.port.hostPorts.count > 1 ? "-\(later.port.hostPorts.upperBound)" : "")
                        + " is already published by \(owner) (\(earlier.port))")
            }
            open.append(i)
        }
    }
}
