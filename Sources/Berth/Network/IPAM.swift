/// Address assignment for every attachment of a spec: a pure function of the spec
/// and the recorded allocations, so that plan and apply agree, and an apply that
/// was interrupted is finished without handing an address out twice.
///
/// Static addresses come first; a container keeps the address recorded for it
/// while that address stays valid (stable across restarts); others get the
/// lowest free host address (never the network, gateway or broadcast address).
/// Allocations of containers that left the network are dropped: released.
public enum IPAM {
    public struct Assignment: Sendable, Equatable {
        /// network -> container -> address
        public var addresses: [String: [String: IPv4Address]] = [:]
        /// One line per network that cannot hold its containers.
        public var problems: [PreflightProblem] = []

        public init(addresses: [String: [String: IPv4Address]] = [:], problems: [PreflightProblem] = []) {
            self.addresses = addresses
            self.problems = problems
        }

        public func address(of container: String, on network: String) -> IPv4Address? {
            addresses[network]?[container]
        }
    }

    public static func assign(spec: Spec, records: [String: NetworkRecord]) -> Assignment {
        var out = Assignment()
        for network in spec.networks {
            let attached = spec.containers.compactMap { c in
                c.networks.first { $0.network == network.name }.map { (c.name, $0.ip) }
            }
            var taken = Set<IPv4Address>([network.gateway])
            var table: [String: IPv4Address] = [:]
            for (name, ip) in attached {
                if let ip {
                    table[name] = ip
                    taken.insert(ip)
                }
            }
            let recorded = records[network.name]?.allocations ?? [:]
            var waiting: [String] = []
            for (name, ip) in attached where ip == nil {
                if let old = recorded[name], usable(old, in: network), inRange(old, of: network), !taken.contains(old) {
                    table[name] = old
                    taken.insert(old)
                } else {
                    waiting.append(name)
                }
            }
            // lan, macvlan: only ipRange is berth's to hand out (validation requires it, or static addresses).
            let range = network.handOutRange
            var candidate = range?.lowerBound ?? 1
            let last = range?.upperBound ?? 0
            for name in waiting {
                while candidate <= last, taken.contains(IPv4Address(candidate)) || !usable(IPv4Address(candidate), in: network) {
                    candidate += 1
                }
                guard candidate <= last else {
                    guard range != nil else {
                        out.problems.append(PreflightProblem(
                            "networks.\(network.name)", "a \(network.mode.rawValue) network without ipRange "
                                + "hands out no addresses: container \(name) needs a static one"))
                        break
                    }
                    if let ipRange = network.ipRange {
                        out.problems.append(PreflightProblem(
                            "networks.\(network.name).ipRange", "\(ipRange) is full: \(waiting.count) containers without a static "
                                + "address for the free addresses of the range (the router and the subnet's network and broadcast "
                                + "addresses are never handed out)"))
                        break
                    }
                    let capacity = Int(last - network.subnet.firstHost.value)  // hosts minus the gateway
                    out.problems.append(PreflightProblem(
                        "networks.\(network.name).subnet", "\(network.subnet) is full: \(attached.count) containers "
                            + "for \(capacity) addresses (the network, gateway and broadcast addresses are never handed out)"))
                    break
                }
                table[name] = IPv4Address(candidate)
                taken.insert(IPv4Address(candidate))
            }
            out.addresses[network.name] = table
        }
        return out
    }

    static func inRange(_ a: IPv4Address, of network: Network) -> Bool {
        network.handOutRange?.contains(a.value) ?? false
    }

    static func usable(_ a: IPv4Address, in network: Network) -> Bool {
        network.subnet.contains(a) && a != network.gateway && a != network.subnet.network && a != network.subnet.broadcast
    }
}
