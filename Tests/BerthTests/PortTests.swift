import Berth
import BerthKernel
import Foundation
import Synchronization
import Testing

/// Published ports as users try them: from the host via 127.0.0.1 and via the host's
/// addresses, from another machine (a network namespace the test makes, joined by a veth),
/// from another container through the host's address (hairpin), over UDP; conflicts refused
/// before anything changes; rules repaired, changed in place, and gone with the container.
@Suite(.enabled(if: geteuid() == 0, "needs root: creates bridges, veths, namespaces and nftables rules"))
struct PortTests {
    /// Ports handed out in this test process (by type): berth's DNAT rules hold no socket,
    /// so the kernel may offer a port another test of this run publishes right now.
    private static let handedOut = Mutex<Set<[Int32]>>([])

    /// A host port nobody uses now and no other test of this run was given: the kernel
    /// picks it (bind to port 0), the test releases it.
    static func freePort(_ type: Int32 = Int32(SOCK_STREAM.rawValue)) throws -> UInt16 {
        for _ in 0..<100 {
            let port = try kernelFreePort(type)
            if handedOut.withLock({ $0.insert([type, Int32(port)]).inserted }) { return port }
        }
        throw KernelError("bind", "free port", detail: "100 ports in a row were handed out already")
    }

    private static func kernelFreePort(_ type: Int32) throws -> UInt16 {
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw KernelError("socket", "free port", detail: String(cString: strerror(errno))) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                guard bind(fd, p, len) == 0 else { return -1 }
                return getsockname(fd, p, &len)
            }
        }
        guard rc == 0 else { throw KernelError("bind", "free port", detail: String(cString: strerror(errno))) }
        return UInt16(bigEndian: addr.sin_port)
    }

    static func inet(_ ip: IPv4, _ port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = ip.value.bigEndian
        return addr
    }

    /// A UDP socket bound to `port` inside a container's network namespace: the container's
    /// side of the exchange, held by the test.
    static func udpServer(in pid: Int32, port: UInt16) throws -> Int32 {
        let namespace = try NetworkNamespace.open("/proc/\(pid)/ns/net")
        defer { try? namespace.close() }
        return try namespace.perform {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var addr = Self.inet(.any, port)
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard fd >= 0, rc == 0 else { throw KernelError("bind", "udp \(port) in \(pid)", detail: String(cString: strerror(errno))) }
            return fd
        }
    }

    static func timeout(_ fd: Int32, seconds: Int) {
        var t = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends "ping" from the host to `ip:port`; the server (in the container) must receive
    /// it and its "pong" must come back to the host.
    static func udpRoundTrip(to ip: IPv4, port: UInt16, server: Int32) -> Bool {
        let client = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(client) }
        timeout(client, seconds: 1)
        timeout(server, seconds: 1)
        var to = inet(ip, port)
        _ = withUnsafePointer(to: &to) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(client, "ping", 4, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var buffer = [UInt8](repeating: 0, count: 16)
        var from = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let n = withUnsafeMutablePointer(to: &from) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(server, &buffer, buffer.count, 0, $0, &len) }
        }
        guard n == 4, String(decoding: buffer[0..<4], as: UTF8.self) == "ping" else { return false }
        _ = withUnsafePointer(to: &from) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(server, "pong", 4, 0, $0, len) }
        }
        let m = recv(client, &buffer, buffer.count, 0)
        return m == 4 && String(decoding: buffer[0..<4], as: UTF8.self) == "pong"
    }

    /// "Another machine": a network namespace joined to the host by a veth pair, on a /30 of
    /// the test's own. Returns the namespace and the host's address on the link.
    static func neighbour(_ box: Sandbox) throws -> (NetworkNamespace, IPv4, cleanup: () -> Void) {
        let link = try box.subnet(1)  // the /30 .0-.3 of a /24 of the test's own
        let hostEnd = "bp\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let host = try RouteNetlink()
        let namespace = try NetworkNamespace.create(label: "lan of \(box.project)")
        try host.createVeth(hostEnd, peer: "lan0", peerNamespace: namespace, up: true)
        let hostAddress = IPv4("\(link.prefix).1")!
        try host.addAddress(IPv4Prefix(hostAddress, 30), to: .name(hostEnd))
        let inside = try RouteNetlink(namespace: namespace)
        try inside.setLoopbackUp()
        try inside.setUp(.name("lan0"))
        try inside.addAddress(IPv4Prefix(IPv4("\(link.prefix).2")!, 30), to: .name("lan0"))
        try inside.addDefaultRoute(via: hostAddress)
        return (namespace, hostAddress, {
            try? host.deleteLink(.name(hostEnd))
            try? namespace.close()
        })
    }

    static func spec(_ box: Sandbox, port: UInt16, udp: UInt16, extra: String = "") throws -> (String, String) {
        let subnet = try NetworkTests.subnet(box)
        let prefix = String(subnet.dropLast(5))
        return ("""
            version: 1
            networks:
              front: {subnet: \(subnet)}
            containers:
            \(NetworkTests.server("web", network: "front", ip: "\(prefix).10"))
                ports: ["\(port):8080", "\(udp):53/udp"]
              client:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
                networks: {front: {}}
            \(extra)
            """, prefix)
    }

    @Test func aPublishedPortIsReachableFromEverywhereUsersTryIt() throws {
        let box = try Sandbox("ports-reach")
        defer { box.close() }
        let port = try Self.freePort(), udp = try Self.freePort(Int32(SOCK_DGRAM.rawValue))
        let (yaml, prefix) = try Self.spec(box, port: port, udp: udp)
        try box.write(yaml)
        try box.apply()
        let web = NetworkTests()
        #expect(try eventually { try web.fetch("http://127.0.0.1:\(port)/") == "page-of-web\n" }, "via 127.0.0.1")
        // An address of the host's own: the bridge's.
        #expect(try web.fetch("http://\(prefix).1:\(port)/") == "page-of-web\n", "via the host's address")
        // Another container, through the host's address (hairpin).
        #expect(try box.exec("client", "timeout", "3", "wget", "-q", "-O", "-", "http://\(prefix).1:\(port)/").stdout
                == "page-of-web\n", "hairpin from another container")
        // Another machine, through the address of the host on its link.
        let (lan, hostAddress, cleanup) = try Self.neighbour(box)
        defer { cleanup() }
        #expect(try lan.perform { try web.fetch("http://\(hostAddress):\(port)/") } == "page-of-web\n", "from the LAN")
        // UDP, from the host through 127.0.0.1 and back.
        let pid = try #require(try box.pid(of: "web"))
        let server = try Self.udpServer(in: pid, port: 53)
        defer { close(server) }
        #expect(Self.udpRoundTrip(to: IPv4(127, 0, 0, 1), port: udp, server: server), "udp via 127.0.0.1")
        #expect(Self.udpRoundTrip(to: IPv4("\(prefix).1")!, port: udp, server: server), "udp via the host's address")

        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 0, "\(plan.stdout)")
        _ = try box.run("destroy", "-f", box.specPath)
        #expect(try Firewall().listing().ports(project: box.project, container: "web").forwards.isEmpty)
        #expect(try web.fetch("http://127.0.0.1:\(port)/") == "")
    }

    @Test func editedAndRemovedRulesAreRepairedAndAChangedPortIsChangedInPlace() throws {
        let box = try Sandbox("ports-drift")
        defer { box.close() }
        let port = try Self.freePort(), udp = try Self.freePort(Int32(SOCK_DGRAM.rawValue))
        let (yaml, _) = try Self.spec(box, port: port, udp: udp)
        try box.write(yaml)
        try box.apply()
        let web = NetworkTests()
        let pid = try #require(try box.pid(of: "web"))
        #expect(try eventually { try web.fetch("http://127.0.0.1:\(port)/") == "page-of-web\n" })

        // An administrator deletes the TCP rule with nft.
        let tag = Firewall.portsTag(project: box.project, container: "web")
        let listed = try nftText("-a", "list", "chain", "ip", "berth", "ports")
        let handle = try #require(listed.split(separator: "\n").first { $0.contains("dport \(port) ") && $0.contains(tag) }?
            .split(separator: " ").last.map(String.init))
        try nftText("delete", "rule", "ip", "berth", "ports", "handle", handle)
        #expect(try web.fetch("http://127.0.0.1:\(port)/") == "")
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 2)
        #expect(plan.stdout.contains("ports:"), "\(plan.stdout)")
        #expect(plan.stdout.contains("drift"), "\(plan.stdout)")
        try box.apply()
        #expect(try box.plan("--detailed-exitcode").status == 0)
        #expect(try eventually { try web.fetch("http://127.0.0.1:\(port)/") == "page-of-web\n" })

        // The spec moves the port: changed in place, the container keeps running.
        let moved = try Self.freePort()
        try box.write(try Self.spec(box, port: moved, udp: udp).0)
        let change = try box.plan()
        #expect(change.stdout.contains("~ container web"), "\(change.stdout)")
        #expect(change.stdout.contains("0.0.0.0:\(moved)->"), "\(change.stdout)")
        try box.apply()
        #expect(try box.pid(of: "web") == pid)
        #expect(try eventually { try web.fetch("http://127.0.0.1:\(moved)/") == "page-of-web\n" })
        #expect(try web.fetch("http://127.0.0.1:\(port)/") == "")
        #expect(try box.plan("--detailed-exitcode").status == 0)
    }

    @Test func conflictsAreRefusedBeforeAnythingChanges() throws {
        let box = try Sandbox("ports-conflict")
        defer { box.close() }
        let port = try Self.freePort(), udp = try Self.freePort(Int32(SOCK_DGRAM.rawValue))

        // Two containers of one spec on one host port: a validation error at the second.
        let other = "  other:\n    rootfs: ./rootfs\n    command: [/bin/sleep, \"1000\"]\n"
            + "    networks: {front: {}}\n    ports: [\"127.0.0.1:\(port):9000\"]\n"
        let (yaml, _) = try Self.spec(box, port: port, udp: udp, extra: other)
        try box.write(yaml)
        let invalid = try box.run("validate", "-f", box.specPath)
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("containers.other.ports[0]: host port tcp \(port) is already published by container web"),
                "\(invalid.stderr)")

        // A process of the host listening on the port: named, and nothing is created.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(listener) }
        var addr = Self.inet(IPv4(127, 0, 0, 1), port)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(listener, 1) == 0)
        try box.write(try Self.spec(box, port: port, udp: udp).0)
        let busy = try box.run("apply", "-f", box.specPath)
        #expect(busy.status == 1)
        let me = try String(contentsOfFile: "/proc/self/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(busy.stderr.contains("containers.web.ports: host port tcp \(port) is in use on this host: 127.0.0.1:\(port)/tcp (\(me) pid \(getpid()))"),
                "\(busy.stderr)")
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))
        close(listener)

        // Another project publishing the port first.
        let first = try Sandbox("ports-first")
        defer { first.close() }
        try first.write("""
            version: 1
            networks:
              front: {subnet: \(try first.subnet(0).subnet)}
            containers:
              holder:
                rootfs: ./rootfs
                command: [/bin/sleep, "1000"]
                stopTimeout: 1s
                networks: {front: {}}
                ports: ["\(port):80"]
            """)
        try first.apply()
        let taken = try box.run("apply", "-f", box.specPath)
        #expect(taken.status == 1)
        #expect(taken.stderr.contains("containers.web.ports: host port tcp \(port) is already published by project \(first.project) (container holder"),
                "\(taken.stderr)")
        #expect(!(try box.cgroups.exists("berth/\(box.project)")))
    }
}

/// `nft` (Debian nftables), as an administrator would run it; fails the test when it fails.
@discardableResult
func nftText(_ arguments: String...) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/sbin/nft")
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw KernelError("nft \(arguments.joined(separator: " "))", "", detail: text) }
    return text
}
