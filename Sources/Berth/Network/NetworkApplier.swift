import BerthKernel
import FoundationEssentials
import Glibc

/// Makes bridges and container attachments match the spec. Every operation is
/// idempotent and repairs what it finds: the same call creates a missing object,
/// fixes one that drifted, and leaves a correct one alone.
///
/// `package`: `berth-bench` (make bench) times these very calls in-process.
package struct NetworkApplier {
    package var project: String
    package var firewall: Firewall

    package init(project: String, firewall: Firewall) {
        self.project = project
        self.firewall = firewall
    }

    /// Creates or repairs a bridge: pinned MAC, MTU, gateway address, up; its firewall rules.
    package func ensureBridge(_ network: Network, mac: MACAddress) throws {
        let host = try RouteNetlink()
        let gateway = network.subnet.host(network.gateway)
        if let link = try host.link(.name(network.bridge)) {
            guard link.kind == "bridge" else {
                throw KernelError("bridge", network.bridge, detail: "a link of that name exists and is not a bridge")
            }
            var change = LinkChange()
            if link.mac != mac { change.mac = mac }
            if let mtu = network.mtu, link.mtu != mtu { change.mtu = mtu }
            if !link.isUp { change.up = true }
            if change != LinkChange() { try host.setLink(.name(network.bridge), change) }
            let present = try host.addresses(on: .index(link.index))
            for address in present where address.prefix != gateway {
                try host.deleteAddress(address.prefix, from: .index(link.index))
            }
            if !present.contains(where: { $0.prefix == gateway }) {
                try host.addAddress(gateway, to: .index(link.index), broadcast: gateway.broadcast)
            }
        } else {
            try host.createBridge(network.bridge, mtu: network.mtu, mac: mac, up: true)
            try Failpoint.networkAfterBridge.hit()
            try host.addAddress(gateway, to: .name(network.bridge), broadcast: gateway.broadcast)
        }
        try Failpoint.firewallBeforeChange.hit()
        try firewall.ensure(KernelMapping.firewall(network, project: project))
    }

    /// Deletes a bridge (its ports are detached by the kernel) and its firewall rules.
    package func deleteBridge(_ name: String, network: String) throws {
        let host = try RouteNetlink()
        try host.deleteLinkIfPresent(.name(name))
        try Failpoint.firewallBeforeChange.hit()
        try firewall.remove(project: project, network: network, bridge: name)
    }

    /// Makes sure the host ends of stopped containers' veths are gone when this returns.
    /// The kernel deletes them with each container's network namespace, but later: a
    /// namespace's teardown runs on a workqueue after its last process is reaped, and
    /// takes the devices of all the namespaces that died meanwhile in one batch. This
    /// waits for that (up to `waiting`), then deletes the veths still there: those of a
    /// namespace something else still holds (a process that joined it, a bind mount).
    /// Deleting each veth at once instead waits for RCU once per veth (about 30 ms here):
    /// 3 s for a destroy of 100 containers.
    package func removeVeths(of containers: [Container], waiting: Duration = .seconds(1)) throws {
        var names = containers.flatMap { c in
            c.networks.map { NetworkNames.hostVeth(project: project, container: c.name, network: $0.network) }
        }
        guard !names.isEmpty else { return }
        let host = try RouteNetlink()
        let deadline = ContinuousClock.now + waiting
        while true {
            names = try names.filter { try host.link(.name($0)) != nil }
            if names.isEmpty || ContinuousClock.now >= deadline { break }
            usleep(5_000)
        }
        // The namespace's teardown may take one meanwhile.
        for name in names { try host.deleteLinkIfPresent(.name(name)) }
    }

    /// Creates or repairs every attachment of a running container: veth pairs with
    /// the container end made directly in its network namespace, master, MTU, up,
    /// address, loopback, and the default route via the first network's gateway.
    func ensureAttached(_ c: Container, pid: Int32, networks: [String: Network], addresses: IPAM.Assignment) throws {
        try ensureAttached(c, namespacePath: "/proc/\(pid)/ns/net", networks: networks, addresses: addresses)
    }

    /// The same, for the network namespace at `namespacePath` (an nsfs file).
    package func ensureAttached(_ c: Container, namespacePath: String, networks: [String: Network],
                                addresses: IPAM.Assignment) throws {
        let host = try RouteNetlink()
        let namespace = try NetworkNamespace.open(namespacePath)
        defer { try? namespace.close() }
        let inside = try RouteNetlink(namespace: namespace)
        try inside.setLoopbackUp()
        for (i, attachment) in c.networks.enumerated() {
            guard let network = networks[attachment.network],
                  let ip = addresses.address(of: c.name, on: network.name) else { continue }
            if network.mode == .macvlan {
                try attachMacvlan(c, index: i, network: network, ip: ip, namespace: namespace, inside: inside)
                continue
            }
            let vethName = NetworkNames.hostVeth(project: project, container: c.name, network: network.name)
            let ifName = NetworkNames.containerInterface(i)
            let veth = try host.link(.name(vethName))
            var iface = try inside.link(.name(ifName))
            if veth == nil || iface == nil {
                // Half a pair is useless: start again from nothing. The host end left by a
                // replaced container goes with its old namespace, maybe while we delete it.
                if veth != nil { try host.deleteLinkIfPresent(.name(vethName)) }
                if iface != nil { try inside.deleteLink(.name(ifName)) }
                try host.createVeth(vethName, peer: ifName, peerNamespace: namespace, mtu: network.mtu,
                                    master: .name(network.bridge), up: true)
                try Failpoint.attachAfterVeth.hit()
                iface = try inside.link(.name(ifName))
            } else if let veth {
                var change = LinkChange()
                let bridgeIndex = try host.index(of: .name(network.bridge))
                if veth.masterIndex != bridgeIndex { change.master = .link(.index(bridgeIndex)) }
                if let mtu = network.mtu, veth.mtu != mtu { change.mtu = mtu }
                if !veth.isUp { change.up = true }
                if change != LinkChange() { try host.setLink(.name(vethName), change) }
            }
            guard let iface else { throw KernelError("find", ifName, detail: "missing after creating it") }
            let mac = NetworkNames.interfaceMAC(project: project, container: c.name, network: network.name)
            try configureInterface(iface, index: i, network: network, ip: ip, mac: mac, namespace: namespace, inside: inside)
        }
    }

    /// A container's interface on a network (a veth's end or a macvlan child): MTU, MAC,
    /// up, the one address, the network's gateway as default route (first network only).
    /// On the LAN (lan, macvlan), a gratuitous ARP when the address is new or the link
    /// came up, so that the LAN's caches learn the container's MAC now, not at its first packet.
    func configureInterface(_ iface: Link, index i: Int, network: Network, ip: IPv4Address, mac: MACAddress,
                            namespace: NetworkNamespace, inside: RouteNetlink) throws {
        var change = LinkChange()
        if let mtu = network.mtu, iface.mtu != mtu { change.mtu = mtu }
        if iface.mac != mac { change.mac = mac }
        if !iface.isUp { change.up = true }
        if change != LinkChange() { try inside.setLink(.index(iface.index), change) }
        let want = network.subnet.host(ip)
        let present = try inside.addresses(on: .index(iface.index))
        for address in present where address.prefix != want {
            try inside.deleteAddress(address.prefix, from: .index(iface.index))
        }
        let added = !present.contains { $0.prefix == want }
        if added { try inside.addAddress(want, to: .index(iface.index), broadcast: want.broadcast) }
        if i == 0 {
            let gateway = network.gateway.kernel
            let current = try inside.routes().first { $0.isDefault }
            if current?.gateway != gateway {
                if let current { try inside.deleteRoute(current.destination, via: current.gateway) }
                try inside.addDefaultRoute(via: gateway, device: .index(iface.index))
            }
        }
        if network.mode.isOnTheLAN, added || change.up != nil {
            try announce(ip, mac: mac, interface: iface.index, namespace: namespace)
        }
    }
}

/// `/etc/hosts` and `/etc/resolv.conf` of containers with their own network
/// namespace: berth's files, bind-mounted in, rewritten in place (the bind
/// mount holds the inode) when the set of containers changes.
enum ContainerFiles {
    static func hostsPath(_ dir: String) -> String { dir + "/hosts" }
    /// The name of the change a plan shows when a running container's /etc/hosts is rewritten.
    static let hostsField = "/etc/hosts"

    /// A hosts file's entries as a plan shows them: `10.88.1.10 web, 10.88.1.11 db`
    /// (the loopback lines every file has left out).
    static func entries(_ hosts: String) -> String {
        let lines = hosts.split(separator: "\n").filter { !$0.hasPrefix("127.0.0.1\t") && !$0.hasPrefix("::1\t") }
        return lines.isEmpty ? "(none)" : lines.map { $0.replacing("\t", with: " ") }.joined(separator: ", ")
    }
    static func resolvPath(_ dir: String) -> String { dir + "/resolv.conf" }

    /// One container's file, from the lines of its own networks only: a start of each of N
    /// containers makes N such files, and a table of every network for each would be N² lines.
    static func hosts(for c: Container, spec: Spec, addresses: IPAM.Assignment) -> String {
        HostsTable(spec: spec, addresses: addresses, networks: Set(c.networks.map(\.network))).hosts(for: c)
    }

    static func resolv(for c: Container) -> String {
        if c.dns.isEmpty {
            return (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        }
        return c.dns.map { "nameserver \($0)" }.joined(separator: "\n") + "\n"
    }

    /// Writes `content` into the file in place (same inode, seen through the bind
    /// mount), only when it differs. Returns whether it changed.
    @discardableResult
    static func update(_ path: String, _ content: String) throws -> Bool {
        if let current = try? String(contentsOfFile: path, encoding: .utf8), current == content { return false }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StateError("open \(path)", String(cString: strerror(errno))) }
        defer { close(fd) }
        let bytes = Array(content.utf8)
        guard ftruncate(fd, 0) == 0, bytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw StateError("write \(path)", String(cString: strerror(errno)))
        }
        return true
    }
}

/// Every network's neighbour lines for /etc/hosts (`10.88.1.11\tdb`), made once from
/// the spec and the address assignment, so that the files of N containers cost N files'
/// text rather than N passes over the spec (each copying every container) per file.
struct HostsTable {
    let addresses: IPAM.Assignment
    /// By network: the containers with an address on it, in the spec's order.
    private var neighbours: [String: [(name: String, line: String)]] = [:]
    /// By network: every neighbour's line (each ending in a newline) in one text, and
    /// where each container's line lies in its UTF-8 (for ``matches(_:for:)``).
    private var blocks: [String: (text: String, lines: [String: Range<Int>])] = [:]

    /// `networks`: the networks whose lines are wanted (nil: every network of the spec); the
    /// table then answers ``hosts(for:)`` for containers on those alone, and ``matches(_:for:)``
    /// compares by building the file.
    init(spec: Spec, addresses: IPAM.Assignment, networks only: Set<String>? = nil) {
        self.addresses = addresses
        let networks = only ?? Set(spec.containers.flatMap { $0.networks.map(\.network) })
        let names = spec.containers.map(\.name)
        for network in networks {
            neighbours[network] = names.compactMap { name in
                addresses.address(of: name, on: network).map { (name, "\($0)\t\(name)") }
            }
            guard only == nil else { continue }
            var text = "", lines: [String: Range<Int>] = [:]
            for (name, line) in neighbours[network] ?? [] {
                let start = text.utf8.count
                text += line + "\n"
                lines[name] = start..<text.utf8.count
            }
            blocks[network] = (text, lines)
        }
    }

    static let loopbackLines = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

    /// True when `text` is exactly ``hosts(for:)``. For a container on one network it
    /// compares the text piece by piece with the network's block instead of building
    /// the file: a plan (and every reconciler pass) compares every container's file,
    /// each of which lists all its neighbours, so building them all is N² strings.
    func matches(_ text: String, for c: Container) -> Bool {
        guard c.networks.count == 1, let network = c.networks.first?.network,
              let own = addresses.address(of: c.name, on: network), let block = blocks[network],
              let mine = block.lines[c.name] else {
            return text == hosts(for: c)
        }
        let ownLine = Self.ownLine(c, own) + "\n"
        var text = text
        return text.withUTF8 { have in
            var rest = UnsafeRawBufferPointer(have)
            func take(_ piece: UnsafeRawBufferPointer) -> Bool {
                guard rest.count >= piece.count else { return false }
                if piece.count > 0, memcmp(piece.baseAddress!, rest.baseAddress!, piece.count) != 0 { return false }
                rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(piece.count))
                return true
            }
            var loopback = Self.loopbackLines, line = ownLine, neighbours = block.text
            return loopback.withUTF8 { take(UnsafeRawBufferPointer($0)) }
                && line.withUTF8 { take(UnsafeRawBufferPointer($0)) }
                && neighbours.withUTF8 { all in
                    let all = UnsafeRawBufferPointer(all)
                    return take(UnsafeRawBufferPointer(rebasing: all[..<mine.lowerBound]))
                        && take(UnsafeRawBufferPointer(rebasing: all[mine.upperBound...]))
                }
                && rest.isEmpty
        }
    }

    /// The container's /etc/hosts: loopback, its own name on its first network, then its
    /// neighbours network by network (each name once).
    func hosts(for c: Container) -> String {
        var lines: [String] = []
        var named = false
        // One network (the usual case) cannot list a neighbour twice: no set to keep.
        let single = c.networks.count == 1
        var seen = Set<String>()
        for attachment in c.networks {
            guard let own = addresses.address(of: c.name, on: attachment.network) else { continue }
            if !named {
                named = true
                seen.insert(c.name)
                lines.append(Self.ownLine(c, own))
            }
            for (name, line) in neighbours[attachment.network] ?? [] where name != c.name {
                if !single {
                    guard seen.insert(name).inserted else { continue }
                }
                lines.append(line)
            }
        }
        if !named { lines.append("127.0.1.1\t\(c.hostname)") }
        return Self.loopbackLines + lines.joined(separator: "\n") + "\n"
    }

    /// The container's own line: its address on its first network, its hostname and name.
    static func ownLine(_ c: Container, _ own: IPv4Address) -> String {
        "\(own)\t\(c.hostname == c.name ? c.name : "\(c.hostname) \(c.name)")"
    }
}
