import BerthKernel
import Foundation
import Testing

/// Runs `body` in a new, empty network namespace (on a thread of its own): berth's table,
/// ip_forward and the bridges there are the test's alone, and go with the namespace.
func inPrivateNetworkNamespace<T>(_ body: () throws -> T) throws -> T {
    let namespace = try NetworkNamespace.create(label: "firewall test")
    defer { try? namespace.close() }
    return try namespace.perform(body)
}

/// `nft` (Debian nftables) run in the calling thread's network namespace: the tests edit
/// berth's rules with the tool an administrator would use. (posix_spawn, not Foundation's
/// Process, which waits for its child on a thread of its own, outside the namespace.)
@discardableResult
func nft(_ arguments: String...) throws -> (status: Int32, out: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw KernelError("pipe", "nft", detail: String(cString: strerror(errno))) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    let argv = (["/usr/sbin/nft"] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, "/usr/sbin/nft", &actions, nil, argv, environ)
    close(fds[1])
    defer { close(fds[0]) }
    guard rc == 0 else { throw KernelError("posix_spawn", "nft", detail: String(cString: strerror(rc))) }
    var out = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fds[0], &buffer, buffer.count)
        if n > 0 { out += buffer[0..<n]; continue }
        if n < 0, errno == EINTR { continue }
        break
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    return ((status >> 8) & 0xff, String(decoding: out, as: UTF8.self))
}

@Suite(.enabled(if: geteuid() == 0, "needs root: nftables and network namespaces"))
struct FirewallTests {
    /// A firewall whose lock and forwarding record are the test's own files.
    static func firewall() -> (Firewall, String) {
        let dir = NSTemporaryDirectory() + "berth-fw-\(UInt32.random(in: 0...UInt32.max))"
        return (Firewall(lockPath: dir + "/lock", forwardingRecord: dir + "/ip_forward.before"), dir)
    }

    static func network(_ name: String, bridge: String, masquerade: Bool = false) -> FirewallNetwork {
        FirewallNetwork(project: "fwtest", name: name, bridge: bridge, subnet: IPv4Prefix("10.77.1.0/24")!, masquerade: masquerade)
    }

    static func bridge(_ name: String) throws {
        try RouteNetlink().createBridge(name, up: true)
    }

    @Test func rulesAreAddedOnceRepairedWhenEditedAndGoWithTheTable() throws {
        let (fw, dir) = Self.firewall()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try inPrivateNetworkNamespace {
            try Self.bridge("fwb0")
            let net = Self.network("front", bridge: "fwb0", masquerade: true)
            try fw.ensure(net)
            try fw.ensure(net)
            let listing = try fw.listing()
            let tags = listing.tags
            #expect(tags.filter { $0 == Firewall.isolationTag(project: "fwtest", network: "front") }.count == 1)
            #expect(tags.filter { $0 == Firewall.masqueradeTag(project: "fwtest", network: "front") }.count == 1)
            #expect(tags.filter { $0 == Firewall.hairpinTag(project: "fwtest", network: "front") }.count == 1)
            #expect(listing.bridges == ["fwb0"])
            #expect(try String(contentsOfFile: "/proc/sys/net/ipv4/conf/fwb0/route_localnet", encoding: .utf8) == "1\n")

            // The administrator's view: the rules nft shows.
            let text = try nft("list", "table", "ip", "berth").out
            #expect(text.contains("iifname \"fwb0\" oifname != \"fwb0\" oifname @bridges ct status ! dnat drop"))
            #expect(text.contains("ip saddr 10.77.1.0/24 ip daddr != 10.77.1.0/24 oifname != \"fwb0\" masquerade"))

            // An edited rule (same comment, other content) is replaced, not kept beside the new one.
            let handle = try #require(try nft("-a", "list", "chain", "ip", "berth", "postrouting").out
                .split(separator: "\n").first { $0.contains("comment \"berth:fwtest/front\"") }?
                .split(separator: " ").last.map(String.init))
            #expect(try nft("replace", "rule", "ip", "berth", "postrouting", "handle", handle,
                            "ip", "saddr", "10.77.1.0/24", "accept", "comment", "\"berth:fwtest/front\"").status == 0)
            try fw.ensure(net)
            let again = try nft("list", "chain", "ip", "berth", "postrouting").out
            #expect(!again.contains("ip saddr 10.77.1.0/24 accept"))
            #expect(again.contains("ip saddr 10.77.1.0/24 ip daddr != 10.77.1.0/24 oifname != \"fwb0\" masquerade"))

            // Masquerade turned off: only that rule goes.
            var plain = net
            plain.masquerade = false
            try fw.ensure(plain)
            #expect(!(try fw.rules().contains(Firewall.masqueradeTag(project: "fwtest", network: "front"))))
            #expect(try fw.rules().contains(Firewall.isolationTag(project: "fwtest", network: "front")))

            try fw.remove(project: "fwtest", network: "front", bridge: "fwb0")
            #expect(try fw.listing().exists == false)
            #expect(try nft("list", "tables").out.contains("berth") == false)
        }
    }

    @Test func forwardingIsPutBackWhenTheLastNetworkThatNeededItGoes() throws {
        let (fw, dir) = Self.firewall()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try inPrivateNetworkNamespace {
            func forwarding() throws -> String { try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8) }
            // A new namespace may inherit the host's value: start from "off".
            try "0\n".write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
            try Self.bridge("fwb1")
            try Self.bridge("fwb2")
            // Isolation alone routes nothing: forwarding stays off.
            try fw.ensure(Self.network("quiet", bridge: "fwb1"))
            #expect(try forwarding() == "0\n")
            try fw.ensure(Self.network("nat", bridge: "fwb2", masquerade: true))
            #expect(try forwarding() == "1\n")
            #expect(try String(contentsOfFile: fw.forwardingRecord, encoding: .utf8) == "0\n")
            let port = PortForward(proto: .tcp, hostAddress: nil, hostPort: 8080, address: IPv4("10.77.1.2")!, port: 80)
            try fw.ensurePorts(project: "fwtest", container: "web", [port])
            try fw.remove(project: "fwtest", network: "nat", bridge: "fwb2")
            // A published port still needs forwarding.
            #expect(try forwarding() == "1\n")
            try fw.ensurePorts(project: "fwtest", container: "web", [])
            #expect(try forwarding() == "0\n")
            #expect(!FileManager.default.fileExists(atPath: fw.forwardingRecord))
            try fw.remove(project: "fwtest", network: "quiet", bridge: "fwb1")
            #expect(try fw.listing().exists == false)
        }
    }

    @Test func forwardingSomebodyElseTurnedOnIsLeftOn() throws {
        let (fw, dir) = Self.firewall()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try inPrivateNetworkNamespace {
            try "1\n".write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
            try Self.bridge("fwb3")
            try fw.ensure(Self.network("nat", bridge: "fwb3", masquerade: true))
            try fw.remove(project: "fwtest", network: "nat", bridge: "fwb3")
            #expect(try String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8) == "1\n")
        }
    }

    @Test func portRulesAreExactlyTheWantedOnesAndReadBack() throws {
        let (fw, dir) = Self.firewall()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try inPrivateNetworkNamespace {
            let a = PortForward(proto: .tcp, hostAddress: nil, hostPort: 8080, address: IPv4("10.77.1.2")!, port: 80)
            let b = PortForward(proto: .udp, hostAddress: IPv4("127.0.0.1"), hostPort: 5353, address: IPv4("10.77.1.2")!, port: 53)
            try fw.ensurePorts(project: "fwtest", container: "web", [a, b])
            try fw.ensurePorts(project: "other", container: "db", [
                PortForward(proto: .tcp, hostAddress: nil, hostPort: 5432, address: IPv4("10.77.2.2")!, port: 5432)])
            #expect(try fw.listing().ports(project: "fwtest", container: "web").forwards == [b, a].sorted())
            #expect(try fw.listing().published.map(\.project).sorted() == ["fwtest", "fwtest", "other"])
            let text = try nft("list", "chain", "ip", "berth", "ports").out
            #expect(text.contains("tcp dport 8080 dnat to 10.77.1.2:80"))
            #expect(text.contains("ip daddr 127.0.0.1 udp dport 5353 dnat to 10.77.1.2:53"))

            // A rule edited by hand is not a port berth publishes: it counts as edited and is replaced.
            let handle = try #require(text.isEmpty ? nil : try nft("-a", "list", "chain", "ip", "berth", "ports").out
                .split(separator: "\n").first { $0.contains("dport 8080") }?.split(separator: " ").last.map(String.init))
            _ = try nft("replace", "rule", "ip", "berth", "ports", "handle", handle, "tcp", "dport", "8080",
                        "dnat", "to", "10.77.1.9:80", "comment", "\"\(Firewall.portsTag(project: "fwtest", container: "web"))\"")
            let edited = try fw.listing().ports(project: "fwtest", container: "web")
            #expect(edited.forwards.count + edited.edited == 2)
            try fw.ensurePorts(project: "fwtest", container: "web", [a])
            #expect(try fw.listing().ports(project: "fwtest", container: "web") == ([a], 0))
            try fw.ensurePorts(project: "fwtest", container: "web", [])
            try fw.ensurePorts(project: "other", container: "db", [])
            #expect(try fw.listing().exists == false)
        }
    }

    @Test func aForeignRuleKeepsTheTableAndAnNftablesErrorIsAnError() throws {
        let (fw, dir) = Self.firewall()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try inPrivateNetworkNamespace {
            try Self.bridge("fwb4")
            try fw.ensure(Self.network("front", bridge: "fwb4"))
            // Somebody else's rule in berth's table: berth never removes it, so the table stays.
            #expect(try nft("add", "rule", "ip", "berth", "forward", "ip", "daddr", "192.0.2.1", "drop").status == 0)
            try fw.remove(project: "fwtest", network: "front", bridge: "fwb4")
            #expect(try nft("list", "table", "ip", "berth").out.contains("ip daddr 192.0.2.1 drop"))
            _ = try nft("delete", "table", "ip", "berth")

            // A table berth cannot add to (the set replaced by one of another type): the error
            // comes back as an error, and nothing of the batch is applied.
            #expect(try nft("add", "table", "ip", "berth").status == 0)
            #expect(try nft("add", "set", "ip", "berth", "bridges", "{ type ipv4_addr; }").status == 0)
            #expect(throws: NftablesError.self) { try fw.ensure(Self.network("front", bridge: "fwb4")) }
            #expect(try fw.rules().isEmpty)
            _ = try nft("delete", "table", "ip", "berth")
        }
    }
}
