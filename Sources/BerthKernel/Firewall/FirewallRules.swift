/// A bridge network as the firewall sees it.
public struct FirewallNetwork: Sendable, Equatable {
    public var project: String
    public var name: String
    public var bridge: String
    /// The network's subnet (host bits zero).
    public var subnet: IPv4Prefix
    /// Outbound NAT for traffic leaving the subnet.
    public var masquerade: Bool

    public init(project: String, name: String, bridge: String, subnet: IPv4Prefix, masquerade: Bool) {
        self.project = project
        self.name = name
        self.bridge = bridge
        self.subnet = subnet
        self.masquerade = masquerade
    }
}

/// One published port: traffic for the host's `hostPort` goes to the container's `port`.
public struct PortForward: Sendable, Hashable, Comparable, CustomStringConvertible {
    public enum Proto: String, Sendable, Hashable, CaseIterable { case tcp, udp }

    public var proto: Proto
    /// The host address it is published on; nil for every address of the host.
    public var hostAddress: IPv4?
    public var hostPort: UInt16
    /// The container's address on the network the port is published from.
    public var address: IPv4
    public var port: UInt16

    public init(proto: Proto, hostAddress: IPv4?, hostPort: UInt16, address: IPv4, port: UInt16) {
        self.proto = proto
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.address = address
        self.port = port
    }

    /// `0.0.0.0:8080->10.88.1.2:80/tcp`.
    public var description: String {
        "\(hostAddress?.description ?? "0.0.0.0"):\(hostPort)->\(address):\(port)/\(proto.rawValue)"
    }

    public static func < (a: PortForward, b: PortForward) -> Bool {
        (a.hostPort, a.proto.rawValue, a.hostAddress?.value ?? 0) < (b.hostPort, b.proto.rawValue, b.hostAddress?.value ?? 0)
    }

    /// Whether the two would take the same host port (the same protocol and port, on an
    /// address they share: "every address" shares all of them).
    public func collides(with other: PortForward) -> Bool {
        guard proto == other.proto, hostPort == other.hostPort else { return false }
        guard let a = hostAddress, let b = other.hostAddress else { return true }
        return a == b
    }
}

/// A rule of berth's table as data: the chain, the comment that says whose it is, and
/// its expressions in libnftables' JSON. Rules berth reads back compare equal to the
/// ones it wrote, so that an edited rule is found as well as a missing one.
struct FirewallRule {
    var chain: String
    var comment: String
    var expr: [NftJSON]

    var add: NftJSON {
        .node("add", .node("rule", .object([
            ("family", .string(Firewall.family)), ("table", .string(Firewall.table)), ("chain", .string(chain)),
            ("comment", .string(comment)), ("expr", .array(expr)),
        ])))
    }

    func matches(_ listed: Firewall.ListedRule) -> Bool {
        listed.chain == chain && listed.comment == comment && NftJSON.array(expr).sameAs(.array(listed.expr))
    }
}

/// The expressions berth's rules are made of, in the form nftables lists them.
enum Expr {
    static func match(_ op: String, _ left: NftJSON, _ right: NftJSON) -> NftJSON {
        .node("match", .object([("op", .string(op)), ("left", left), ("right", right)]))
    }
    static func meta(_ key: String) -> NftJSON { .node("meta", .node("key", .string(key))) }
    static func payload(_ proto: String, _ field: String) -> NftJSON {
        .node("payload", .object([("protocol", .string(proto)), ("field", .string(field))]))
    }
    static func prefix(_ p: IPv4Prefix) -> NftJSON {
        .node("prefix", .object([("addr", .string(p.address.description)), ("len", .int(Int(p.length)))]))
    }
    static func ct(_ key: String) -> NftJSON { .node("ct", .node("key", .string(key))) }
    static let drop = NftJSON.node("drop", .null)
    static let masquerade = NftJSON.node("masquerade", .null)
    static let localAddress = match("==", .node("fib", .object([("result", .string("type")), ("flags", .array([.string("daddr")]))])),
                                    .string("local"))
    static func jump(_ chain: String) -> NftJSON { .node("jump", .node("target", .string(chain))) }
    static func dnat(_ address: IPv4, _ port: UInt16) -> NftJSON {
        .node("dnat", .object([("addr", .string(address.description)), ("port", .int(Int(port)))]))
    }
}

extension Firewall {
    static let family = "ip"
    static let table = "berth"
    static let bridgesSet = "bridges"
    static let portsChain = "ports"

    /// The base chains of berth's table: (name, type, hook, priority).
    static let baseChains: [(String, String, String, Int)] = [
        ("forward", "filter", "forward", 0),
        ("input", "filter", "input", 0),
        ("prerouting", "nat", "prerouting", -100),
        ("output", "nat", "output", -100),
        ("postrouting", "nat", "postrouting", 100),
    ]

    /// Rules every berth network shares, tagged `berth:host:...`; they go with the table.
    static let sharedRules: [FirewallRule] = [
        // Published ports: traffic for an address of the host's own, from outside (prerouting)
        // and from the host itself (output), goes through the chain of port rules.
        FirewallRule(chain: "prerouting", comment: "berth:host:ports", expr: [Expr.localAddress, Expr.jump(portsChain)]),
        FirewallRule(chain: "output", comment: "berth:host:ports", expr: [Expr.localAddress, Expr.jump(portsChain)]),
        // A port published on 127.0.0.1 reaches the container with the host's loopback source
        // (route_localnet is on for berth's bridges): rewrite it to the bridge's address...
        FirewallRule(chain: "postrouting", comment: "berth:host:localhost", expr: [
            Expr.match("==", Expr.payload("ip", "saddr"), Expr.prefix(IPv4Prefix(IPv4(127, 0, 0, 0), 8))),
            Expr.match("==", Expr.meta("oifname"), .string("@" + bridgesSet)),
            Expr.masquerade,
        ]),
        // ...and, since route_localnet would also let a container open connections to the
        // host's loopback services, drop those (replies to the host's own connections pass).
        FirewallRule(chain: "input", comment: "berth:host:localhost", expr: [
            Expr.match("==", Expr.meta("iifname"), .string("@" + bridgesSet)),
            Expr.match("==", Expr.payload("ip", "daddr"), Expr.prefix(IPv4Prefix(IPv4(127, 0, 0, 0), 8))),
            Expr.match("==", Expr.ct("direction"), .string("original")),
            Expr.drop,
        ]),
    ]

    /// Tag of a network's masquerade rule.
    public static func masqueradeTag(project: String, network: String) -> String { "berth:\(project)/\(network)" }
    /// Tag of a network's isolation rule.
    public static func isolationTag(project: String, network: String) -> String { "berth:\(project)/\(network):isolate" }
    /// Tag of a network's hairpin rule (containers reaching published ports through the host's address).
    public static func hairpinTag(project: String, network: String) -> String { "berth:\(project)/\(network):hairpin" }
    /// Tag of every port rule of a container.
    public static func portsTag(project: String, container: String) -> String { "berth:\(project)/\(container):ports" }

    /// The rules of a network.
    static func rules(of n: FirewallNetwork) -> [FirewallRule] {
        var rules = [
            // Networks meet only through the host: drop what one berth bridge forwards to
            // another, except published ports (DNAT), which are meant to be reached from anywhere.
            FirewallRule(chain: "forward", comment: isolationTag(project: n.project, network: n.name), expr: [
                Expr.match("==", Expr.meta("iifname"), .string(n.bridge)),
                Expr.match("!=", Expr.meta("oifname"), .string(n.bridge)),
                Expr.match("==", Expr.meta("oifname"), .string("@" + bridgesSet)),
                Expr.match("!", Expr.ct("status"), .string("dnat")),
                Expr.drop,
            ]),
            // A container reaching a published port of its own network through the host's
            // address: the reply must come back through the host, so the source becomes the bridge's.
            FirewallRule(chain: "postrouting", comment: hairpinTag(project: n.project, network: n.name), expr: [
                Expr.match("in", Expr.ct("status"), .string("dnat")),
                Expr.match("==", Expr.payload("ip", "saddr"), Expr.prefix(n.subnet)),
                Expr.match("==", Expr.meta("oifname"), .string(n.bridge)),
                Expr.masquerade,
            ]),
        ]
        if n.masquerade {
            rules.append(FirewallRule(chain: "postrouting", comment: masqueradeTag(project: n.project, network: n.name), expr: [
                Expr.match("==", Expr.payload("ip", "saddr"), Expr.prefix(n.subnet)),
                Expr.match("!=", Expr.payload("ip", "daddr"), Expr.prefix(n.subnet)),
                Expr.match("!=", Expr.meta("oifname"), .string(n.bridge)),
                Expr.masquerade,
            ]))
        }
        return rules
    }

    /// The rule of one published port.
    static func rule(project: String, container: String, _ p: PortForward) -> FirewallRule {
        var expr: [NftJSON] = []
        if let address = p.hostAddress {
            expr.append(Expr.match("==", Expr.payload("ip", "daddr"), .string(address.description)))
        }
        expr.append(Expr.match("==", Expr.payload(p.proto.rawValue, "dport"), .int(Int(p.hostPort))))
        expr.append(Expr.dnat(p.address, p.port))
        return FirewallRule(chain: portsChain, comment: portsTag(project: project, container: container), expr: expr)
    }

    /// Reads a port rule back; nil when it is not one berth would write (edited by hand).
    static func portForward(_ listed: ListedRule) -> PortForward? {
        guard listed.chain == portsChain else { return nil }
        var hostAddress: IPv4?, hostPort: UInt16?, proto: PortForward.Proto?, target: (IPv4, UInt16)?
        for e in listed.expr {
            if let m = e["match"], let field = m["left"]?["payload"]?["field"]?.string {
                if field == "daddr", let a = m["right"]?.string.flatMap({ IPv4($0) }) { hostAddress = a }
                if field == "dport", let p = m["left"]?["payload"]?["protocol"]?.string.flatMap(PortForward.Proto.init),
                   let n = m["right"]?.intValue.flatMap({ UInt16(exactly: $0) }) {
                    proto = p
                    hostPort = n
                }
            }
            if let d = e["dnat"], let a = d["addr"]?.string.flatMap({ IPv4($0) }),
               let n = d["port"]?.intValue.flatMap({ UInt16(exactly: $0) }) {
                target = (a, n)
            }
        }
        guard let proto, let hostPort, let target else { return nil }
        let p = PortForward(proto: proto, hostAddress: hostAddress, hostPort: hostPort, address: target.0, port: target.1)
        // Only a rule exactly as berth writes it counts: anything changed in it by hand is an edit.
        guard NftJSON.array(rule(project: "", container: "", p).expr).sameAs(.array(listed.expr)) else { return nil }
        return p
    }
}
