import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// berth's nftables rules, in one table of its own (`ip berth`), spoken through
/// libnftables in JSON:
///
/// - isolation: traffic from one berth bridge to another is dropped (chain `forward`,
///   set `bridges`), so that networks only meet through the host;
/// - masquerade: outbound NAT for networks with `masquerade: true` (chain `postrouting`);
/// - published ports: DNAT for traffic to the host's addresses (chains `prerouting` and
///   `output` jump to `ports`), with masquerade for the host's loopback and for hairpins.
///
/// Every rule carries a comment `berth:<project>/<network or container>[:kind]`, so that
/// berth changes exactly its own; a listing that fails is an error, never "no rules".
/// The table is shared by every project on the host: changes are serialised host-wide
/// by a lock file, and the table goes only when no project has a rule left in it.
public struct Firewall: Sendable {
    /// The lock every berth on the host takes around its changes to the table.
    public var lockPath: String
    /// Where the value of `ip_forward` that berth found before turning it on is kept,
    /// until the last rule that needed forwarding is gone.
    public var forwardingRecord: String

    public init(lockPath: String = "/run/lock/berth-nftables.lock",
                forwardingRecord: String = "/run/berth/ip_forward.before") {
        self.lockPath = lockPath
        self.forwardingRecord = forwardingRecord
    }

    /// A rule of berth's table as listed.
    struct ListedRule: Sendable {
        var chain: String
        var handle: Int
        var comment: String?
        var expr: [NftJSON]
    }

    /// berth's table as nftables lists it.
    public struct Listing: Sendable {
        /// False when the table does not exist (then there are no rules).
        public var exists: Bool
        var rules: [ListedRule]
        /// The bridges in the set `bridges`.
        public var bridges: Set<String>

        /// The comments (tags) of every rule.
        public var tags: [String] { rules.compactMap(\.comment) }

        /// A container's published ports as the kernel has them; `edited` counts rules of
        /// the container that are not what berth writes (changed by hand).
        public func ports(project: String, container: String) -> (forwards: [PortForward], edited: Int) {
            let tag = Firewall.portsTag(project: project, container: container)
            var forwards: [PortForward] = [], edited = 0
            for rule in rules where rule.comment == tag {
                if let p = Firewall.portForward(rule) { forwards.append(p) } else { edited += 1 }
            }
            return (forwards.sorted(), edited)
        }

        /// Every published port of every project on the host, with the project that has it.
        public var published: [(project: String, container: String, forward: PortForward)] {
            rules.compactMap { rule in
                guard let owner = rule.comment.flatMap(Firewall.portsOwner), let p = Firewall.portForward(rule) else { return nil }
                return (owner.project, owner.container, p)
            }
        }
    }

    /// berth's table (an empty listing when it does not exist).
    public func listing() throws -> Listing {
        try locked(LOCK_SH) { try Self.list(try Nftables()) }
    }

    /// Tags of every rule in berth's table (empty when the table does not exist).
    public func rules() throws -> [String] {
        try listing().tags
    }

    /// Adds what is missing of a network's rules, replaces edited ones, and removes its
    /// masquerade rule when not wanted; turns on route_localnet on its bridge (for ports
    /// published on 127.0.0.1) and IPv4 forwarding when the network masquerades.
    public func ensure(_ network: FirewallNetwork) throws {
        let tags: Set = [Self.isolationTag(project: network.project, network: network.name),
                         Self.hairpinTag(project: network.project, network: network.name),
                         Self.masqueradeTag(project: network.project, network: network.name)]
        try change(operation: "add the rules of network \(network.name)", addBridge: network.bridge,
                   scope: tags, wanted: Self.rules(of: network))
        try FirewallFiles.write("1", to: "/proc/sys/net/ipv4/conf/\(network.bridge)/route_localnet")
    }

    /// Removes a network's rules and its bridge from the set; the table goes with the last
    /// project rule.
    public func remove(project: String, network: String, bridge: String) throws {
        let tags: Set = [Self.isolationTag(project: project, network: network),
                         Self.hairpinTag(project: project, network: network),
                         Self.masqueradeTag(project: project, network: network)]
        try change(operation: "remove the rules of network \(network)", removeBridge: bridge, scope: tags, wanted: [])
    }

    /// Makes a container's port rules exactly `ports` (an empty list removes them).
    public func ensurePorts(project: String, container: String, _ ports: [PortForward]) throws {
        try change(operation: "publish the ports of \(container)", scope: [Self.portsTag(project: project, container: container)],
                   wanted: ports.sorted().map { Self.rule(project: project, container: container, $0) })
    }

    // MARK: - the one way the table changes

    /// Under the host-wide lock: lists the table, deletes the rules of `scope` that are not
    /// `wanted`, adds the wanted ones that are missing (with the table, its chains and shared
    /// rules), in one transaction; then deletes the table when no project rule is left, and
    /// turns forwarding on or puts it back as the rules now need.
    private func change(operation: String, addBridge: String? = nil, removeBridge: String? = nil,
                        scope: Set<String>, wanted: [FirewallRule]) throws {
        try locked(LOCK_EX) {
            let nft = try Nftables()
            let before = try Self.list(nft)
            var commands: [NftJSON] = []
            var remaining = wanted
            for rule in before.rules {
                guard let comment = rule.comment, scope.contains(comment) else { continue }
                if let i = remaining.firstIndex(where: { $0.matches(rule) }) {
                    remaining.remove(at: i)
                } else {
                    commands.append(Self.deleteRule(rule))
                }
            }
            if !remaining.isEmpty || (addBridge.map { !before.bridges.contains($0) } ?? false) {
                commands += Self.skeleton
                for shared in Self.sharedRules where !before.rules.contains(where: { shared.matches($0) }) {
                    commands.append(shared.add)
                }
                if let addBridge, !before.bridges.contains(addBridge) {
                    commands.append(Self.element("add", addBridge))
                }
                commands += remaining.map(\.add)
            }
            if let removeBridge, before.bridges.contains(removeBridge) {
                commands.append(Self.element("delete", removeBridge))
            }
            if !commands.isEmpty { try nft.run(commands, operation: operation) }

            let after = commands.isEmpty ? before : try Self.list(nft)
            if after.exists, !after.rules.contains(where: { $0.comment.map(Self.isProjectTag) ?? true }) {
                try nft.run([.node("delete", .node("table", .object([("family", .string(Self.family)), ("name", .string(Self.table))])))],
                            operation: "delete table ip berth (no project has a rule left in it)")
            }
            try forwarding(needed: after.rules.contains { $0.comment.map(Self.needsForwarding) ?? false })
        }
    }

    /// Table, set and chains: `add` of what exists already changes nothing.
    private static var skeleton: [NftJSON] {
        let table: [(String, NftJSON)] = [("family", .string(family)), ("table", .string(Self.table))]
        var out: [NftJSON] = [
            .node("add", .node("table", .object([("family", .string(family)), ("name", .string(Self.table))]))),
            .node("add", .node("set", .object(table + [("name", .string(bridgesSet)), ("type", .string("ifname"))]))),
            .node("add", .node("chain", .object(table + [("name", .string(portsChain))]))),
        ]
        for (name, type, hook, priority) in baseChains {
            out.append(.node("add", .node("chain", .object(table + [
                ("name", .string(name)), ("type", .string(type)), ("hook", .string(hook)), ("prio", .int(priority)),
                ("policy", .string("accept")),
            ]))))
        }
        return out
    }

    private static func element(_ verb: String, _ bridge: String) -> NftJSON {
        .node(verb, .node("element", .object([
            ("family", .string(family)), ("table", .string(table)), ("name", .string(bridgesSet)),
            ("elem", .array([.string(bridge)])),
        ])))
    }

    private static func deleteRule(_ rule: ListedRule) -> NftJSON {
        .node("delete", .node("rule", .object([
            ("family", .string(family)), ("table", .string(table)), ("chain", .string(rule.chain)), ("handle", .int(rule.handle)),
        ])))
    }

    /// Whether a tag is a project's (not one of the shared `berth:host:` rules). Rules
    /// without a comment are not berth's: they keep the table too.
    static func isProjectTag(_ tag: String) -> Bool { !tag.hasPrefix("berth:host:") }

    /// Masquerade and published ports route packets through the host; isolation does not.
    static func needsForwarding(_ tag: String) -> Bool {
        guard tag.hasPrefix("berth:"), isProjectTag(tag) else { return false }
        return tag.hasSuffix(":ports") || !tag.dropFirst("berth:".count).contains(":")
    }

    /// `berth:<project>/<container>:ports` -> (project, container).
    static func portsOwner(_ tag: String) -> (project: String, container: String)? {
        guard tag.hasPrefix("berth:"), tag.hasSuffix(":ports") else { return nil }
        let name = tag.dropFirst("berth:".count).dropLast(":ports".count)
        guard let slash = name.firstIndex(of: "/") else { return nil }
        return (String(name[..<slash]), String(name[name.index(after: slash)...]))
    }

    static func list(_ nft: Nftables) throws -> Listing {
        // `list table` of a table that is not there is an error like any other: ask which
        // tables exist first, so that only a real failure is one.
        let tables = try nft.run([.node("list", .node("tables", .null))], operation: "list tables")
        let exists = tables["nftables"]?.elements.contains {
            $0["table"]?["family"]?.string == family && $0["table"]?["name"]?.string == table
        } ?? false
        guard exists else { return Listing(exists: false, rules: [], bridges: []) }
        let out = try nft.run([.node("list", .node("table", .object([("family", .string(family)), ("name", .string(table))])))],
                              operation: "list table ip berth")
        guard case .array(let items)? = out["nftables"] else {
            throw NftablesError(.output, "list table ip berth", "no \"nftables\" array in the listing")
        }
        var rules: [ListedRule] = [], bridges = Set<String>()
        for item in items {
            if let rule = item["rule"] {
                guard let chain = rule["chain"]?.string, let handle = rule["handle"]?.intValue else {
                    throw NftablesError(.output, "list table ip berth", "a rule without chain or handle")
                }
                rules.append(ListedRule(chain: chain, handle: handle, comment: rule["comment"]?.string, expr: rule["expr"]?.elements ?? []))
            } else if let set = item["set"], set["name"]?.string == bridgesSet {
                for e in set["elem"]?.elements ?? [] { if let name = e.string { bridges.insert(name) } }
            }
        }
        return Listing(exists: true, rules: rules, bridges: bridges)
    }

    // MARK: - ip_forward

    static let ipForward = "/proc/sys/net/ipv4/ip_forward"

    /// Turns forwarding on when needed, recording the value found first; puts the recorded
    /// value back when nothing needs it any more. Values set by others are left alone.
    private func forwarding(needed: Bool) throws {
        let current = try FirewallFiles.read(Self.ipForward)
        if needed {
            guard current != "1" else { return }
            if (try? FirewallFiles.read(forwardingRecord)) == nil {
                try FirewallFiles.create(forwardingRecord, current + "\n")
            }
            try FirewallFiles.write("1", to: Self.ipForward)
        } else if let recorded = try? FirewallFiles.read(forwardingRecord) {
            if recorded != current { try FirewallFiles.write(recorded, to: Self.ipForward) }
            unlink(forwardingRecord)
        }
    }

    // MARK: - the host-wide lock

    private func locked<T>(_ operation: Int32, _ body: () throws -> T) throws -> T {
        let dir = String(lockPath[..<(lockPath.lastIndex(of: "/") ?? lockPath.startIndex)])
        if !dir.isEmpty { mkdir(dir, 0o755) }
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KernelError("open", lockPath, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        while flock(fd, operation) != 0 {
            guard errno == EINTR else { throw KernelError("flock", lockPath, errno: Errno(rawValue: errno)) }
        }
        return try body()
    }
}

/// One-value files under /proc/sys (and berth's small records beside them).
enum FirewallFiles {
    static func read(_ path: String) throws -> String {
        try ProcFS.readText(path).trimmingSpaces()
    }

    static func write(_ value: String, to path: String) throws {
        try CgroupFS.write(value + "\n", to: path)
    }

    /// A new small file, its directory made when missing.
    static func create(_ path: String, _ content: String) throws {
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !dir.isEmpty { mkdir(dir, 0o755) }
        do {
            let fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                             permissions: [.ownerReadWrite])
            defer { try? fd.close() }
            _ = try fd.writeAll(content.utf8)
        } catch let e as Errno {
            throw KernelError("write", path, errno: e)
        }
    }
}
