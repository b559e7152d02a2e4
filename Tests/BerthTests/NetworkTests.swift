import Berth
import BerthKernel
import Foundation
import Testing

/// Bridge networking as a user sees it: containers reach each other by name and
/// the host reaches them; drift is shown and repaired. Traffic goes only between
/// this host and the test's own containers, on subnets the tests choose.
@Suite(.enabled(if: geteuid() == 0, "needs root: creates bridges, veths and namespaces"))
struct NetworkTests {
    /// The test's first /24, allocated host-wide (no other run on this host has it).
    static func subnet(_ box: Sandbox) throws -> String { try box.subnet(0).subnet }

    static func server(_ name: String, network: String, ip: String? = nil) -> String {
        """
          \(name):
            rootfs: ./rootfs
            command: [/bin/sh, -c, "mkdir -p /tmp/www && echo page-of-\(name) > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
            stopTimeout: 1s
            mounts:
              - {type: tmpfs, target: /tmp}
            networks:
              \(network): {\(ip.map { "ip: \($0)" } ?? "")}
        """
    }

    /// GET / on `address:8080` from the host, with a 3 s timeout; "" on any failure.
    /// (Debian's busybox 1.35 wget crashes with -T, so the host side speaks HTTP itself.)
    func fetch(_ url: String) throws -> String {
        let hostPort = url.dropFirst("http://".count).split(separator: "/").first.map(String.init) ?? ""
        let parts = hostPort.split(separator: ":")
        guard parts.count == 2, let ip = IPv4(parts[0]), let port = UInt16(parts[1]) else { return "" }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = ip.value.bigEndian
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return "" }
        let request = "GET / HTTP/1.0\r\nHost: \(hostPort)\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.") && text.contains(" 200 "), let body = text.range(of: "\r\n\r\n") else { return "" }
        return String(text[body.upperBound...])
    }

    func twoServers(_ box: Sandbox) throws -> (subnet: String, prefix: String) {
        let subnet = try Self.subnet(box)
        let prefix = try box.subnet(0).prefix
        try box.write("""
            version: 1
            networks:
              front:
                subnet: \(subnet)
                mtu: 1400
            containers:
            \(Self.server("alpha", network: "front", ip: "\(prefix).10"))
            \(Self.server("beta", network: "front"))
            """)
        try box.apply()
        return (subnet, prefix)
    }

    @Test func containersReachEachOtherByNameAndTheHostReachesThem() throws {
        let box = try Sandbox("net-reach")
        defer { box.close() }
        let (_, prefix) = try twoServers(box)
        #expect(try eventually { try box.exec("beta", "timeout", "3", "wget", "-q", "-O", "-", "http://alpha:8080/").stdout == "page-of-alpha\n" })
        #expect(try box.exec("alpha", "timeout", "3", "wget", "-q", "-O", "-", "http://beta:8080/").stdout == "page-of-beta\n")
        #expect(try box.exec("beta", "timeout", "3", "wget", "-q", "-O", "-", "http://\(prefix).10:8080/").stdout == "page-of-alpha\n")
        #expect(try fetch("http://\(prefix).10:8080/") == "page-of-alpha\n")
        // beta got the first free address: .1 is the gateway, .10 is alpha's.
        #expect(try fetch("http://\(prefix).2:8080/") == "page-of-beta\n")
        let hosts = try box.exec("alpha", "cat", "/etc/hosts").stdout
        #expect(hosts.contains("\(prefix).2\tbeta"))
        let route = try box.exec("alpha", "ip", "route").stdout
        #expect(route.contains("default via \(prefix).1 dev eth0"))
        #expect(try box.exec("alpha", "cat", "/sys/class/net/eth0/mtu").stdout == "1400\n")
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    /// A container's veth goes with its destroy, not when the kernel tears its network
    /// namespace down (later, on a workqueue; never while anything holds it, as here an fd
    /// of the test's, or a process entered with nsenter would): destroy returns with none left.
    @Test func destroyRemovesTheVethWhileTheNamespaceIsStillHeld() throws {
        let box = try Sandbox("net-held")
        defer { box.close() }
        _ = try twoServers(box)
        let pid = try #require(try box.runningPID("alpha"))
        let held = open("/proc/\(pid)/ns/net", O_RDONLY | O_CLOEXEC)
        try #require(held >= 0)
        defer { close(held) }
        let veth = NetworkNames.hostVeth(project: box.project, container: "alpha", network: "front")
        #expect(try FailpointTests.linkExists(veth))
        let r = try box.run("destroy", "-p", box.project)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(try !FailpointTests.linkExists(veth), "veth \(veth) left while its namespace is held")
    }

    @Test func aContainerInAUserNamespaceGetsItsNetworkAndHostsFile() throws {
        let box = try Sandbox("net-userns")
        defer { box.close() }
        let subnet = try Self.subnet(box)
        let prefix = String(subnet.dropLast(5))
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(subnet)}
            containers:
              boxed:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                namespaces: [uts, ipc, pid, mount, network, user]
                userns:
                  uidMap: [{container: 0, host: 200000, size: 65536}]
                  gidMap: [{container: 0, host: 200000, size: 65536}]
                networks: {front: {ip: \(prefix).7}}
            """)
        try box.apply()
        #expect(try box.exec("boxed", "cat", "/proc/self/uid_map").stdout.contains("200000"))
        #expect(try box.exec("boxed", "cat", "/etc/hosts").stdout.contains("\(prefix).7\tboxed"))
        #expect(try box.exec("boxed", "ip", "addr").stdout.contains("\(prefix).7/24"))
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test func aContainerOnAnotherNetworkCannotReachThem() throws {
        let box = try Sandbox("net-isolate")
        defer { box.close() }
        let subnet = try Self.subnet(box)
        let prefix = String(subnet.dropLast(5))
        let otherPrefix = try box.subnet(1).prefix
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(subnet)}
              back: {subnet: \(otherPrefix).0/24}
            containers:
            \(Self.server("alpha", network: "front", ip: "\(prefix).10"))
            \(Self.server("outsider", network: "back"))
            """)
        try box.apply()
        #expect(try eventually { try fetch("http://\(prefix).10:8080/") == "page-of-alpha\n" })
        let r = try box.exec("outsider", "timeout", "3", "wget", "-q", "-O", "-", "http://\(prefix).10:8080/")
        #expect(r.status != 0)
        #expect(!r.stdout.contains("page-of-alpha"))
        #expect(!(try box.exec("outsider", "cat", "/etc/hosts").stdout.contains("alpha")))
    }

    @Test func everyNetworkDriftIsShownAndRepaired() throws {
        let box = try Sandbox("net-drift")
        defer { box.close() }
        let (_, prefix) = try twoServers(box)
        let bridge = Network.defaultBridgeName(project: box.project, network: "front")
        let veth = NetworkNames.hostVeth(project: box.project, container: "alpha", network: "front")
        let alpha = try #require(try box.pid(of: "alpha"))
        let host = try RouteNetlink()
        let inside = { try RouteNetlink(namespacePath: "/proc/\(alpha)/ns/net") }

        func repaired(_ what: String, expect fragment: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
            let plan = try box.plan("--detailed-exitcode")
            #expect(plan.status == 2, "\(what): plan shows no change", sourceLocation: sourceLocation)
            #expect(plan.stdout.contains("changed outside berth"), "\(what)", sourceLocation: sourceLocation)
            #expect(plan.stdout.contains(fragment), "\(what): \(plan.stdout)", sourceLocation: sourceLocation)
            try box.apply(sourceLocation: sourceLocation)
            #expect(try box.plan("--detailed-exitcode").status == 0, "\(what): not converged", sourceLocation: sourceLocation)
            #expect(try eventually { try fetch("http://\(prefix).10:8080/") == "page-of-alpha\n" },
                    "\(what): no connectivity", sourceLocation: sourceLocation)
            #expect(try box.pid(of: "alpha") == alpha, "\(what): the container was restarted", sourceLocation: sourceLocation)
        }

        try host.deleteLink(.name(bridge))
        try repaired("bridge deleted", expect: "bridge: (missing) -> \(bridge)")
        try host.deleteLink(.name(veth))
        try repaired("veth deleted", expect: "networks.front: veth missing ->")
        let eth0 = try #require(try inside().link(.name("eth0")))
        try inside().deleteAddress(IPv4Prefix(IPv4("\(prefix).10")!, 24), from: .index(eth0.index))
        try inside().addAddress(IPv4Prefix(IPv4("\(prefix).99")!, 24), to: .index(eth0.index))
        try repaired("address changed", expect: "eth0 \(prefix).99/24 on \(bridge)")
        try inside().deleteRoute(.defaultRoute, via: IPv4("\(prefix).1"))
        try repaired("default route removed", expect: "no default route")
        let bridgeIndex = try host.index(of: .name(bridge))
        try host.deleteAddress(IPv4Prefix(IPv4("\(prefix).1")!, 24), from: .index(bridgeIndex))
        try repaired("bridge address removed", expect: "gateway: (none) -> \(prefix).1/24")
        try host.setMTU(.name(bridge), 1300)
        try repaired("bridge MTU changed", expect: "mtu: 1300 -> 1400")
    }

    /// Enough containers that their network sides are read side by side (Observe/Concurrently.swift,
    /// on a host with more than one CPU): the drift of two of them is theirs alone in the plan.
    @Test func driftInTwoOfManyContainersIsShownForThemAlone() throws {
        let box = try Sandbox("net-many")
        defer { box.close() }
        let subnet = try Self.subnet(box)
        let prefix = try box.subnet(0).prefix
        let names = (0..<10).map { "c\($0)" }
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(subnet)}
            containers:
            \(names.enumerated().map { i, name in
                "  \(name):\n    rootfs: ./rootfs\n    command: [/bin/sleep, \"3600\"]\n    stopTimeout: 1s\n" +
                "    networks:\n      front: {ip: \(prefix).\(10 + i)}" }.joined(separator: "\n"))
            """)
        try box.apply()
        #expect(try box.plan("--detailed-exitcode").status == 0)

        let inside = { (name: String) in try RouteNetlink(namespacePath: "/proc/\(try #require(try box.pid(of: name)))/ns/net") }
        let eth0 = try #require(try inside("c7").link(.name("eth0")))
        try inside("c7").deleteAddress(IPv4Prefix(IPv4("\(prefix).17")!, 24), from: .index(eth0.index))
        try inside("c7").addAddress(IPv4Prefix(IPv4("\(prefix).99")!, 24), to: .index(eth0.index))
        try inside("c3").deleteRoute(.defaultRoute, via: IPv4("\(prefix).1"))

        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 2, "\(plan.stdout)")
        #expect(plan.stdout.contains("eth0 \(prefix).99/24"), "\(plan.stdout)")
        #expect(plan.stdout.contains("no default route"), "\(plan.stdout)")
        let touched = names.filter { name in plan.stdout.split(separator: "\n").contains { $0.contains("container \(name):") } }
        #expect(touched == ["c3", "c7"], "\(plan.stdout)")
        try box.apply()
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test func staticAddressChangesInPlace() throws {
        let box = try Sandbox("net-readdress")
        defer { box.close() }
        let (subnet, prefix) = try twoServers(box)
        let alpha = try #require(try box.pid(of: "alpha"))
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(subnet), mtu: 1400}
            containers:
            \(Self.server("alpha", network: "front", ip: "\(prefix).20"))
            \(Self.server("beta", network: "front"))
            """)
        let plan = try box.plan()
        #expect(plan.stdout.contains("networks.front: eth0 \(prefix).10/24"))
        #expect(plan.stdout.contains("-> eth0 \(prefix).20/24"))
        try box.apply()
        #expect(try box.pid(of: "alpha") == alpha)
        #expect(try eventually { try fetch("http://\(prefix).20:8080/") == "page-of-alpha\n" })
        #expect(try box.exec("beta", "cat", "/etc/hosts").stdout.contains("\(prefix).20\talpha"))
    }

    /// Containers added to a network: each running neighbour's /etc/hosts is written once by
    /// the apply that adds them (not once per added container), every file lists everyone, and
    /// an apply that changes nothing writes none.
    @Test func containersAddedLaterAreListedByEveryNeighbourWhoseFileIsWrittenOnce() throws {
        let box = try Sandbox("net-hosts-once")
        defer { box.close() }
        let subnet = try Self.subnet(box)
        func spec(_ names: [String]) -> String {
            "version: 1\nnetworks:\n  front: {subnet: \(subnet)}\ncontainers:\n" + names.map {
                "  \($0):\n    rootfs: ./rootfs\n    command: [/bin/sleep, \"1000\"]\n    stopTimeout: 1s\n"
                    + "    networks: {front: {}}\n"
            }.joined()
        }
        let first = ["n0", "n1", "n2"], all = first + ["n3", "n4", "n5"]
        try box.write(spec(first))
        try box.apply()
        let store = StateStore(root: box.stateDirectory)
        func hostsPath(_ name: String) -> String { store.containerDirectory(box.project, name) + "/hosts" }
        func named(_ name: String) throws -> Set<String> {
            let text = try String(contentsOfFile: hostsPath(name), encoding: .utf8)
            return Set(text.split(separator: "\n").compactMap { $0.split(separator: "\t").last.map(String.init) })
        }
        for name in first { #expect(try named(name).isSuperset(of: first), "\(name)") }

        // Every write of a file ends with a close after writing; an open comes between two
        // such closes, so the kernel never merges two of them into one event.
        let watcher = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        try #require(watcher >= 0)
        defer { close(watcher) }
        var byWatch: [Int32: String] = [:]
        for name in first {
            let wd = inotify_add_watch(watcher, hostsPath(name), UInt32(IN_OPEN | IN_CLOSE_WRITE))
            try #require(wd >= 0)
            byWatch[wd] = name
        }
        func writes() -> [String: Int] {
            var counts: [String: Int] = [:]
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(watcher, $0.baseAddress, $0.count) }
                guard n > 0 else { break }
                var offset = 0
                while offset < n {
                    let (wd, mask, length) = buffer.withUnsafeBytes { raw in
                        (raw.load(fromByteOffset: offset, as: Int32.self), raw.load(fromByteOffset: offset + 4, as: UInt32.self),
                         raw.load(fromByteOffset: offset + 12, as: UInt32.self))
                    }
                    if mask & UInt32(IN_CLOSE_WRITE) != 0, let name = byWatch[wd] { counts[name, default: 0] += 1 }
                    offset += 16 + Int(length)
                }
            }
            return counts
        }

        try box.write(spec(all))
        let plan = try box.plan()
        #expect(plan.stdout.components(separatedBy: "/etc/hosts").count - 1 == first.count, "\(plan.stdout)")
        _ = writes()  // the plan only reads them
        try box.apply()
        #expect(writes() == Dictionary(uniqueKeysWithValues: first.map { ($0, 1) }))
        for name in all { #expect(try named(name).isSuperset(of: all), "\(name)") }
        #expect(try box.exec("n0", "cat", "/etc/hosts").stdout.contains("\tn5"))
        #expect(try box.plan("--detailed-exitcode").status == 0)
        try box.apply()
        #expect(writes().isEmpty)
    }

    @Test func subnetChangeReplacesTheNetworkAndReattachesItsContainers() throws {
        let box = try Sandbox("net-resubnet")
        defer { box.close() }
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(Self.subnet(box))}
            containers:
            \(Self.server("beta", network: "front"))
            """)
        try box.apply()
        let beta = try #require(try box.pid(of: "beta"))
        let newPrefix = try box.subnet(1).prefix
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(newPrefix).0/24}
            containers:
            \(Self.server("beta", network: "front"))
            """)
        let plan = try box.plan()
        #expect(plan.stdout.contains("-/+ network front: must be replaced"))
        #expect(plan.stdout.contains("subnet:"))
        try box.apply()
        #expect(try box.pid(of: "beta") == beta)
        #expect(try eventually { try fetch("http://\(newPrefix).2:8080/") == "page-of-beta\n" })
        // Removing the network from the spec (and its container) destroys the bridge.
        try box.write("""
            version: 1
            containers:
              solo:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
            """)
        let bridge = Network.defaultBridgeName(project: box.project, network: "front")
        let destroy = try box.plan()
        #expect(destroy.stdout.contains("- network front: will be destroyed"))
        try box.apply()
        #expect(try RouteNetlink().link(.name(bridge)) == nil)
    }

    @Test func addressesAreDistinctAndAFullSubnetFailsBeforeAnythingIsCreated() throws {
        let box = try Sandbox("net-ipam")
        defer { box.close() }
        let prefix = try box.subnet(1).prefix
        func spec(_ count: Int) -> String {
            var s = "version: 1\nnetworks:\n  small: {subnet: \(prefix).0/26}\ncontainers:\n"
            for i in 0..<count {
                s += "  c\(i):\n    rootfs: ./rootfs\n    command: [/bin/sleep, \"1000\"]\n    networks: {small: {}}\n"
            }
            return s
        }
        try box.write(spec(62))
        let full = try box.run("apply", "-f", box.specPath)
        #expect(full.status == 1)
        #expect(full.stderr.contains("network small (\(prefix).0/26) has room for 61 containers"))
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))
        #expect(try RouteNetlink().link(.name(Network.defaultBridgeName(project: box.project, network: "small"))) == nil)

        try box.write(spec(50))
        try box.apply()
        let records = try StateStore(root: box.stateDirectory).networkRecords(box.project)
        let addresses = try #require(records["small"]).allocations
        #expect(addresses.count == 50)
        #expect(Set(addresses.values).count == 50)
        #expect(!addresses.values.contains(IPv4Address("\(prefix).1")!))
        #expect(!addresses.values.contains(IPv4Address("\(prefix).0")!))
        #expect(!addresses.values.contains(IPv4Address("\(prefix).63")!))
    }

    @Test func aForeignBridgeNameAndAnOverlappingHostRouteAreRefused() throws {
        let box = try Sandbox("net-foreign")
        defer { box.close() }
        let foreign = "bt\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let host = try RouteNetlink()
        try host.createBridge(foreign)
        defer { try? host.deleteLink(.name(foreign)) }
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(Self.subnet(box)), bridge: \(foreign)}
            containers:
            \(Self.server("alpha", network: "front"))
            """)
        let r = try box.run("apply", "-f", box.specPath)
        #expect(r.status == 1)
        #expect(r.stderr.contains("networks.front.bridge: \(foreign) already exists on this host"))
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))

        // A route of the host's own (on the foreign bridge) that overlaps the subnet.
        try host.setUp(.name(foreign))
        let overlap = try box.subnet(1).prefix
        try host.addAddress(IPv4Prefix(IPv4("\(overlap).1")!, 24), to: .name(foreign))
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(overlap).0/25}
            containers:
            \(Self.server("alpha", network: "front"))
            """)
        let o = try box.run("apply", "-f", box.specPath)
        #expect(o.status == 1)
        #expect(o.stderr.contains("networks.front.subnet: \(overlap).0/25 overlaps the host route \(overlap).0/24 dev \(foreign)"))
    }

    @Test func masqueradeAndIsolationRulesAreAddedRepairedAndRemoved() throws {
        let box = try Sandbox("net-nat")
        defer { box.close() }
        try box.write("""
            version: 1
            networks:
              front: {subnet: \(Self.subnet(box)), masquerade: true}
            containers:
            \(Self.server("alpha", network: "front"))
            """)
        try box.apply()
        let firewall = Firewall()
        let nat = Firewall.masqueradeTag(project: box.project, network: "front")
        let isolation = Firewall.isolationTag(project: box.project, network: "front")
        #expect(try firewall.rules().contains(nat))
        #expect(try firewall.rules().contains(isolation))
        let bridge = Network.defaultBridgeName(project: box.project, network: "front")
        try firewall.remove(project: box.project, network: "front", bridge: bridge)
        let plan = try box.plan()
        #expect(plan.stdout.contains("masquerade: false -> true  # drift"))
        #expect(plan.stdout.contains("isolation: (missing) -> on  # drift"))
        try box.apply()
        #expect(try firewall.rules().contains(nat))
        #expect(try firewall.rules().contains(isolation))
        _ = try box.run("destroy", "-p", box.project)
        #expect(!(try firewall.rules().contains(nat)))
        #expect(!(try firewall.rules().contains(isolation)))
    }
}

/// A small stable number from a string, to pick per-test subnets.
