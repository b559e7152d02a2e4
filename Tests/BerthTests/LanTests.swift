import Berth
import BerthKernel
import Foundation
import Testing

/// `mode: lan` and `mode: macvlan` on a LAN made of network namespaces. The "host" is a
/// namespace of the test's own, where berth runs (under nsenter), so that the takeover may
/// move a default route without ever touching the machine's; the LAN is a second one,
/// holding the router and a second "LAN host" address, joined to the host by a veth pair
/// whose host end plays the NIC. Subnets are leased (TestSubnets); names are random.
@Suite(.enabled(if: geteuid() == 0, "needs root: namespaces, bridges, veths, macvlan"))
struct LanTests {
    /// The world of one test: host and LAN namespaces, the NIC, the addresses.
    final class World: @unchecked Sendable {
        let box: Sandbox
        let host: NetworkNamespace
        let lan: NetworkNamespace
        let nic: String
        /// The LAN: router .1, the host .2, the LAN host .3; berth hands out .200/29.
        let prefix: String
        let subnet: String
        /// A subnet beyond the router: the host has a route to it through the NIC.
        let far: String

        init(_ tag: String) throws {
            box = try Sandbox(tag)
            let lanSubnet = try box.subnet(0), farSubnet = try box.subnet(1)
            prefix = lanSubnet.prefix
            subnet = lanSubnet.subnet
            far = farSubnet.subnet
            nic = "ln" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
            host = try NetworkNamespace.create(label: "host of \(box.project)")
            lan = try NetworkNamespace.create(label: "lan of \(box.project)")
            let h = try RouteNetlink(namespace: host)
            try h.setLoopbackUp()
            try h.createVeth(nic, peer: "lan0", peerNamespace: lan, up: true)
            try h.addAddress(IPv4Prefix("\(prefix).2/24")!, to: .name(nic))
            try h.addDefaultRoute(via: IPv4("\(prefix).1")!, device: .name(nic))
            try h.addRoute(IPv4Prefix(far)!, via: IPv4("\(prefix).1")!)
            let l = try RouteNetlink(namespace: lan)
            try l.setLoopbackUp()
            try l.setUp(.name("lan0"))
            try l.addAddress(IPv4Prefix("\(prefix).1/24")!, to: .name("lan0"))
            try l.addAddress(IPv4Prefix("\(prefix).3/24")!, to: .name("lan0"))
            box.launcher = ["/usr/bin/nsenter", "--net=/proc/\(getpid())/fd/\(host.descriptor.rawValue)", "--"]
        }

        /// Destroys the project (which gives the NIC back), then the namespaces: the NIC, the
        /// bridge and the containers' veths go with the host namespace.
        func close() {
            box.close()
            try? lan.close()
            try? host.close()
        }

        func netlink() throws -> RouteNetlink { try RouteNetlink(namespace: host) }

        /// The NIC's addresses and every route of the host's main table: what destroy must give back.
        func addressing() throws -> (addresses: Set<LinkAddress>, routes: Set<Route>) {
            let h = try netlink()
            let index = try h.index(of: .name(nic))
            return (Set(try h.addresses(on: .index(index))), Set(try h.routes()))
        }

        func spec(mode: String = "lan", gateway: String? = nil, container: String = "", extra: String = "") -> String {
            let key = mode == "lan" ? "uplink" : "parent"
            return """
                version: 1
                networks:
                  lan:
                    mode: \(mode)
                    \(key): \(nic)
                    subnet: \(subnet)
                    gateway: \(gateway ?? "\(prefix).1")
                    ipRange: \(prefix).200/29
                \(extra)
                containers:
                \(container.isEmpty ? NetworkTests.server("web", network: "lan") : container)
                """
        }

        func bridge() throws -> Link? {
            let spec = try SpecLoader.load(path: box.specPath).get()
            return try netlink().link(.name(spec.networks[0].bridge))
        }
    }

    /// ICMP echo from a namespace, every 50 ms, on a thread of its own, until stopped.
    final class Pinger: @unchecked Sendable {
        let fd: Int32
        let target: IPv4
        let id = UInt16.random(in: 1...UInt16.max)
        private let lock = NSLock()
        private var stopping = false
        private var sentCount = 0
        private var replies = Set<UInt16>()
        private var thread: Thread?
        private let done = DispatchSemaphore(value: 0)

        init(from namespace: NetworkNamespace, to target: IPv4) throws {
            self.target = target
            fd = try namespace.perform {
                socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMP))
            }
            guard fd >= 0 else { throw KernelError("socket(ICMP)", "pinger", detail: String(cString: strerror(errno))) }
        }

        deinit { close(fd) }

        func start() {
            let thread = Thread { [self] in
                var seq: UInt16 = 0
                repeat {
                    seq &+= 1
                    send(seq)
                    receive(for: 50)
                } while !lock.withLock({ stopping })
                receive(for: 500)  // the replies still on their way
                done.signal()
            }
            self.thread = thread
            thread.start()
        }

        /// Stops sending; returns (sent, answered).
        func stop() -> (sent: Int, answered: Int) {
            lock.withLock { stopping = true }
            done.wait()
            return lock.withLock { (sentCount, replies.count) }
        }

        private func send(_ seq: UInt16) {
            var packet: [UInt8] = [8, 0, 0, 0, UInt8(id >> 8), UInt8(id & 0xff), UInt8(seq >> 8), UInt8(seq & 0xff)]
            packet += [UInt8](repeating: 0x42, count: 24)
            var sum: UInt32 = 0
            for i in stride(from: 0, to: packet.count, by: 2) { sum += UInt32(packet[i]) << 8 | UInt32(packet[i + 1]) }
            while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
            let checksum = ~UInt16(sum)
            packet[2] = UInt8(checksum >> 8)
            packet[3] = UInt8(checksum & 0xff)
            var to = PortTests.inet(target, 0)
            let n = withUnsafePointer(to: &to) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            // A send the kernel refuses (no route for a moment) is a lost reply too.
            _ = n
            lock.withLock { sentCount += 1 }
        }

        private func receive(for milliseconds: Int) {
            let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let left = Int32(deadline.timeIntervalSinceNow * 1000)
                guard left > 0 else { return }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, left) > 0 else { continue }
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard n >= 28 else { continue }
                let header = Int(buffer[0] & 0x0f) * 4
                guard n >= header + 8, buffer[header] == 0,
                      UInt16(buffer[header + 4]) << 8 | UInt16(buffer[header + 5]) == id else { continue }
                let seq = UInt16(buffer[header + 6]) << 8 | UInt16(buffer[header + 7])
                _ = lock.withLock { replies.insert(seq) }
            }
        }
    }

    /// A TCP listener in the LAN namespace that answers one HTTP request per connection and
    /// records the address each connection came from: what the LAN sees of the container.
    final class PeerRecorder: @unchecked Sendable {
        let fd: Int32
        let port: UInt16
        private let lock = NSLock()
        private var seen: [String] = []

        init(in namespace: NetworkNamespace) throws {
            port = UInt16.random(in: 20000...40000)
            let port = self.port
            fd = try namespace.perform { () throws -> Int32 in
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                var one: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                var addr = PortTests.inet(.any, port)
                let rc = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard fd >= 0, rc == 0, listen(fd, 8) == 0 else {
                    throw KernelError("listen", "LAN port \(port)", detail: String(cString: strerror(errno)))
                }
                return fd
            }
            Thread { [self] in
                while true {
                    var peer = sockaddr_in()
                    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
                    let c = withUnsafeMutablePointer(to: &peer) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &len) }
                    }
                    guard c >= 0 else { return }
                    let address = IPv4(UInt32(bigEndian: peer.sin_addr.s_addr)).description
                    lock.withLock { seen.append(address) }
                    var buffer = [UInt8](repeating: 0, count: 1024)
                    _ = recv(c, &buffer, buffer.count, 0)
                    let body = "from \(address)\n"
                    let response = "HTTP/1.0 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                    _ = response.withCString { Glibc.send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                    Glibc.close(c)
                }
            }.start()
        }

        /// Stops the listener (accept fails, the thread ends).
        func close() { shutdown(fd, Int32(SHUT_RDWR)); Glibc.close(fd) }

        var peers: [String] { lock.withLock { seen } }
    }

    // MARK: - lan

    @Test func theTakeoverKeepsTheHostReachableAndDestroyGivesTheNICBackExactly() throws {
        let w = try World("lan-takeover")
        defer { w.close() }
        let before = try w.addressing()
        try w.box.write(w.spec())

        let pinger = try Pinger(from: w.host, to: IPv4("\(w.prefix).3")!)
        pinger.start()
        let applied = try w.box.apply()
        let (sent, answered) = pinger.stop()
        #expect(sent >= 2, "the ping ran during the apply")
        #expect(sent - answered <= 1, "lost \(sent - answered) of \(sent) replies during the takeover")
        #expect(applied.stdout.contains("took \(w.nic) over"), "\(applied.stdout)")

        // The host's addressing now lives on the bridge, which holds the NIC.
        let h = try w.netlink()
        let bridge = try #require(try w.bridge())
        #expect(bridge.kind == "bridge")
        let nic = try #require(try h.link(.name(w.nic)))
        #expect(nic.masterIndex == bridge.index)
        #expect(bridge.mac == nic.mac, "the bridge keeps the NIC's MAC")
        #expect(try h.addresses(on: .index(nic.index)).isEmpty)
        #expect(try h.addresses(on: .index(bridge.index)).map(\.prefix.description) == ["\(w.prefix).2/24"])
        let routes = try h.routes()
        #expect(routes.contains { $0.isDefault && $0.outputIndex == bridge.index && $0.gateway?.description == "\(w.prefix).1" })
        #expect(routes.contains { $0.destination.description == w.far && $0.outputIndex == bridge.index })

        // The container is a member of the LAN: the LAN sees its own address, without NAT.
        let recorder = try PeerRecorder(in: w.lan)
        defer { recorder.close() }
        let ip = "\(w.prefix).200"
        for target in ["\(w.prefix).1", "\(w.prefix).3"] {
            let r = try w.box.exec("web", "timeout", "3", "wget", "-q", "-O", "-", "http://\(target):\(recorder.port)/")
            #expect(r.stdout == "from \(ip)\n", "to \(target): \(r.stdout)\(r.stderr)")
        }
        #expect(recorder.peers == [ip, ip])
        // And the LAN host reaches the container at that address.
        let web = NetworkTests()
        #expect(try eventually { try w.lan.perform { try web.fetch("http://\(ip):8080/") } == "page-of-web\n" })
        #expect(try w.box.plan("--detailed-exitcode").status == 0)

        let out = try Pinger(from: w.host, to: IPv4("\(w.prefix).3")!)
        out.start()
        let destroyed = try w.box.run("destroy", "-f", w.box.specPath)
        let (sentOut, answeredOut) = out.stop()
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        #expect(sentOut - answeredOut <= 1, "lost \(sentOut - answeredOut) of \(sentOut) replies while giving the NIC back")
        let after = try w.addressing()
        #expect(after.addresses == before.addresses)
        #expect(after.routes == before.routes)
        #expect(try w.netlink().link(.name(w.nic))?.masterIndex == nil)
    }

    @Test func anAddressInUseOnTheLANIsRefusedAndNothingChanges() throws {
        let w = try World("lan-in-use")
        defer { w.close() }
        let before = try w.addressing()
        // .3 is the LAN host's.
        try w.box.write(w.spec(container: NetworkTests.server("web", network: "lan", ip: "\(w.prefix).3")))
        let r = try w.box.run("apply", "-f", w.box.specPath)
        #expect(r.status == 1)
        #expect(r.stderr.contains("containers.web.networks.lan: \(w.prefix).3 is in use on the LAN"), "\(r.stderr)")
        #expect(r.stderr.contains("Nothing was changed"), "\(r.stderr)")
        #expect(try w.bridge() == nil)
        let after = try w.addressing()
        #expect(after.addresses == before.addresses && after.routes == before.routes)
        #expect(try w.box.status().isEmpty)
    }

    @Test func aRouterThatDoesNotAnswerRollsTheTakeoverBack() throws {
        let w = try World("lan-silent")
        defer { w.close() }
        let before = try w.addressing()
        try w.box.write(w.spec(gateway: "\(w.prefix).9"))
        let r = try w.box.run("apply", "-f", w.box.specPath)
        #expect(r.status == 1)
        #expect(r.stderr.contains("the router \(w.prefix).9 did not answer ARP"), "\(r.stderr)")
        #expect(r.stderr.contains("\(w.nic) has its addresses and routes back"), "\(r.stderr)")
        #expect(try w.bridge() == nil)
        let after = try w.addressing()
        #expect(after.addresses == before.addresses)
        #expect(after.routes == before.routes)
        #expect(try w.box.plan("--detailed-exitcode").status == 2, "the network is still to be made")
    }

    /// Every step of the takeover: berth killed there, then apply converges with the host's
    /// addressing whole, and destroy gives the NIC back exactly.
    @Test(arguments: Failpoint.allCases.filter { $0.needsLanNetwork && $0 != .lanGiveBackAfterNIC })
    func killedDuringTheTakeoverTheNextApplyConverges(point: Failpoint) throws {
        let w = try World("lan-kill")
        defer { w.close() }
        let before = try w.addressing()
        try w.box.write(w.spec())
        let hurt = try w.box.run(["apply", "-f", w.box.specPath], environment: [Failpoint.variable: "\(point.rawValue):kill"])
        #expect(hurt.signal == SIGKILL, "\(point.rawValue) not reached: \(hurt.stdout)\(hurt.stderr)")
        try w.box.apply()
        #expect(try w.box.plan("--detailed-exitcode").status == 0, "\(point.rawValue)")
        let h = try w.netlink()
        let bridge = try #require(try w.bridge())
        #expect(try h.link(.name(w.nic))?.masterIndex == bridge.index)
        #expect(try h.addresses(on: .index(bridge.index)).map(\.prefix.description) == ["\(w.prefix).2/24"])
        #expect(try h.routes().contains { $0.isDefault && $0.outputIndex == bridge.index })
        #expect(try eventually { try Pinger.answers(from: w.host, to: IPv4("\(w.prefix).3")!) },
                "the host reaches the LAN after the repair")

        let r = try w.box.run("destroy", "-f", w.box.specPath)
        #expect(r.status == 0, "\(r.stderr)")
        let after = try w.addressing()
        #expect(after.addresses == before.addresses, "\(point.rawValue)")
        #expect(after.routes == before.routes, "\(point.rawValue)")
    }

    @Test func killedWhileGivingTheNICBackTheNextDestroyFinishes() throws {
        let w = try World("lan-giveback")
        defer { w.close() }
        let before = try w.addressing()
        try w.box.write(w.spec())
        try w.box.apply()
        let hurt = try w.box.run(["destroy", "-f", w.box.specPath],
                                 environment: [Failpoint.variable: "\(Failpoint.lanGiveBackAfterNIC.rawValue):kill"])
        #expect(hurt.signal == SIGKILL, "\(hurt.stdout)\(hurt.stderr)")
        let r = try w.box.run("destroy", "-f", w.box.specPath)
        #expect(r.status == 0, "\(r.stderr)")
        let after = try w.addressing()
        #expect(after.addresses == before.addresses)
        #expect(after.routes == before.routes)
        #expect(try w.bridge() == nil)
    }

    @Test func driftOfTheTakeoverIsShownAndRepaired() throws {
        let w = try World("lan-drift")
        defer { w.close() }
        try w.box.write(w.spec())
        try w.box.apply()
        let h = try w.netlink()
        let bridge = try #require(try w.bridge())
        // Someone takes the NIC out of the bridge, puts the address back on it, deletes the far route.
        try h.setNoMaster(.name(w.nic))
        try h.deleteRoute(IPv4Prefix(w.far)!, via: IPv4("\(w.prefix).1")!)
        try h.addAddress(IPv4Prefix("\(w.prefix).2/24")!, to: .name(w.nic))
        let plan = try w.box.plan("--detailed-exitcode")
        #expect(plan.status == 2)
        for field in ["uplink:", "addresses:", "routes:", "drift"] {
            #expect(plan.stdout.contains(field), "\(field) in \(plan.stdout)")
        }
        try w.box.apply()
        #expect(try w.box.plan("--detailed-exitcode").status == 0)
        #expect(try h.link(.name(w.nic))?.masterIndex == bridge.index)
        #expect(try h.addresses(on: .name(w.nic)).isEmpty)
        #expect(try h.routes().contains { $0.destination.description == w.far && $0.outputIndex == bridge.index })

        // The bridge deleted: made again, the NIC taken over again, the container attached again.
        try h.deleteLink(.index(bridge.index))
        let gone = try w.box.plan("--detailed-exitcode")
        #expect(gone.status == 2)
        #expect(gone.stdout.contains("bridge:"), "\(gone.stdout)")
        try w.box.apply()
        #expect(try w.box.plan("--detailed-exitcode").status == 0)
        let web = NetworkTests()
        #expect(try eventually { try w.lan.perform { try web.fetch("http://\(w.prefix).200:8080/") } == "page-of-web\n" })
    }

    // MARK: - macvlan

    @Test func aMacvlanContainerIsReachableFromTheLANAndFromTheHostThroughTheShim() throws {
        let w = try World("macvlan")
        defer { w.close() }
        try w.box.write(w.spec(mode: "macvlan", extra: "    hostAccess: true"))
        try w.box.apply()
        let ip = "\(w.prefix).200"
        let web = NetworkTests()
        #expect(try eventually { try w.lan.perform { try web.fetch("http://\(ip):8080/") } == "page-of-web\n" }, "from the LAN")
        #expect(try w.host.perform { try web.fetch("http://\(ip):8080/") } == "page-of-web\n", "from the host, through the shim")
        let h = try w.netlink()
        let shim = NetworkNames.macvlanShim(project: w.box.project, network: "lan")
        #expect(try h.link(.name(shim))?.kind == "macvlan")
        let plan = try w.box.plan("--detailed-exitcode")
        #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
        let r = try w.box.run("destroy", "-f", w.box.specPath)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try h.link(.name(shim)) == nil)
        #expect(try h.addresses(on: .name(w.nic)).map(\.prefix.description) == ["\(w.prefix).2/24"])
    }
}

extension LanTests.Pinger {
    /// One echo request: true when its reply comes back within the pinger's wait.
    static func answers(from namespace: NetworkNamespace, to target: IPv4) throws -> Bool {
        let pinger = try LanTests.Pinger(from: namespace, to: target)
        pinger.start()
        return pinger.stop().answered > 0
    }
}
