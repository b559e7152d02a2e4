import Foundation
import Testing
@testable import BerthKernel

/// rtnetlink against the real kernel, always inside network namespaces the
/// test creates (see ``NetlinkLab``); nothing is made in the host's.
@Suite("Netlink on the kernel", .enabled(if: geteuid() == 0, "needs root"))
struct NetlinkKernelTests {
    @Test("a bridge is created with its MTU and MAC, read back, changed, renamed, deleted")
    func bridgeLifecycle() throws {
        let lab = NetlinkLab("bridgeLifecycle")
        let netlink = try RouteNetlink(namespace: lab.namespace("host"))
        let mac = try #require(MACAddress("02:be:27:00:00:01"))

        try netlink.createBridge("bfront0", mtu: 1400, mac: mac)
        let bridge = try #require(try netlink.link("bfront0"))
        #expect(bridge.kind == "bridge")
        #expect(bridge.mtu == 1400)
        #expect(bridge.mac == mac)
        #expect(!bridge.isUp)
        #expect(try netlink.link(.index(bridge.index))?.name == "bfront0")
        #expect(try netlink.links().map(\.name).sorted() == ["bfront0", "lo"])

        try netlink.setUp("bfront0")
        try netlink.setMTU("bfront0", 1300)
        let other = try #require(MACAddress("02:be:27:00:00:02"))
        try netlink.setMAC(.index(bridge.index), other)
        let changed = try #require(try netlink.link("bfront0"))
        #expect(changed.isUp)
        #expect(changed.mtu == 1300)
        #expect(changed.mac == other)

        // Kernels before 6.2 rename only links that are down.
        try netlink.setDown("bfront0")
        #expect(try netlink.link("bfront0")?.isUp == false)
        try netlink.rename("bfront0", to: "bback0")
        #expect(try netlink.link("bfront0") == nil)
        #expect(try netlink.link("bback0")?.index == bridge.index)

        try netlink.deleteLink("bback0")
        #expect(try netlink.link(.index(bridge.index)) == nil)
        #expect(try netlink.links().map(\.name) == ["lo"])
    }

    @Test("errors name the step and the object, with the kernel's own words when it gives some")
    func readableErrors() throws {
        let lab = NetlinkLab("readableErrors")
        let netlink = try RouteNetlink(namespace: lab.namespace("host"))
        try netlink.createBridge("bfront0")

        let exists = #expect(throws: KernelError.self) { try netlink.createBridge("bfront0") }
        #expect(exists?.errno == .fileExists)
        #expect(exists?.description.hasPrefix("create bridge(bfront0): File exists") == true)

        let missing = #expect(throws: KernelError.self) { try netlink.deleteLink("vb-missing") }
        #expect(missing?.description.hasPrefix("delete link(vb-missing): No such device") == true)

        let notThere = #expect(throws: KernelError.self) { try netlink.setUp("vb-missing") }
        #expect(notThere?.description.hasPrefix("set link up(vb-missing): No such device") == true)

        // An MTU above the bridge's maximum: EINVAL, and the kernel says why.
        let tooBig = #expect(throws: KernelError.self) { try netlink.setMTU("bfront0", 70_000) }
        #expect(tooBig?.errno == .invalidArgument)
        #expect(tooBig?.description.hasPrefix("set mtu(bfront0, 70000): Invalid argument (") == true)
        #expect(tooBig?.detail?.localizedCaseInsensitiveContains("mtu") == true, "\(String(describing: tooBig))")

        let noMaster = #expect(throws: KernelError.self) { try netlink.createVeth("vb-1", peer: "eth0", master: "bnone0") }
        #expect(noMaster?.description == "create veth(vb-1, peer eth0, master bnone0): No such device (no link bnone0)")
        #expect(try netlink.link("vb-1") == nil)

        let badName = #expect(throws: KernelError.self) { try netlink.createBridge("a-name-too-long-0") }
        #expect(badName?.description.hasPrefix("create bridge(a-name-too-long-0): Invalid argument") == true)

        let noNamespace = #expect(throws: KernelError.self) { try RouteNetlink(namespacePath: "/nonexistent/ns/net") }
        #expect(noNamespace?.description == "open network namespace(/nonexistent/ns/net): No such file or directory")
        let notANamespace = #expect(throws: KernelError.self) { try RouteNetlink(namespacePath: "/proc/self/stat") }
        #expect(notANamespace?.description == "setns(/proc/self/stat): Invalid argument")
    }

    @Test("a veth is created with its peer directly in another namespace, under its final name")
    func vethPeerInNamespace() throws {
        let lab = NetlinkLab("vethPeerInNamespace")
        let host = try RouteNetlink(namespace: lab.namespace("host"))
        let containerNamespace = try lab.namespace("container")
        try host.createBridge("br0", up: true)

        try host.createVeth("vb-c1", peer: "eth0", peerNamespace: containerNamespace, mtu: 1400,
                            master: "br0", up: true)

        // Opened by path, as berth opens /proc/PID/ns/net.
        let container = try RouteNetlink(namespacePath: NetlinkLab.path(of: containerNamespace))
        #expect(try container.link("eth0")?.isUp == false)
        try container.setUp("eth0")
        let hostEnd = try #require(try host.links().first { $0.name == "vb-c1" })
        let bridge = try #require(try host.link("br0"))
        let containerEnd = try #require(try container.link("eth0"))
        #expect(try host.link("eth0") == nil)
        #expect(try container.links().map(\.name).sorted() == ["eth0", "lo"])

        #expect(hostEnd.kind == "veth" && containerEnd.kind == "veth")
        #expect(hostEnd.mtu == 1400 && containerEnd.mtu == 1400)
        #expect(hostEnd.isUp && containerEnd.isUp)
        #expect(hostEnd.hasCarrier && containerEnd.hasCarrier)
        #expect(hostEnd.masterIndex == bridge.index)
        #expect(hostEnd.portKind == "bridge")
        #expect(containerEnd.masterIndex == nil)
        #expect(hostEnd.peerIndex == containerEnd.index)
        #expect(containerEnd.peerIndex == hostEnd.index)
        #expect(hostEnd.peerNamespaceID != nil)

        try host.setNoMaster("vb-c1")
        #expect(try host.link("vb-c1")?.masterIndex == nil)
        try host.setMaster("vb-c1", "br0")
        #expect(try host.link("vb-c1")?.masterIndex == bridge.index)

        // Deleting one end deletes the other, in its namespace.
        try host.deleteLink("vb-c1")
        #expect(try container.link("eth0") == nil)
        #expect(try container.links().map(\.name) == ["lo"])
    }

    @Test("deleting a link that may go by itself: gone meanwhile is no failure, present is deleted")
    func deleteLinkIfPresent() throws {
        let lab = NetlinkLab("deleteLinkIfPresent")
        let host = try RouteNetlink(namespace: lab.namespace("host"))
        let containerNamespace = try lab.namespace("container")
        let container = try RouteNetlink(namespace: containerNamespace)
        try host.createVeth("vb-c1", peer: "eth0", peerNamespace: containerNamespace, up: true)
        try host.createVeth("vb-c2", peer: "eth1", peerNamespace: containerNamespace, up: true)

        // The host end seen, then taken with its peer (as a namespace's teardown takes it).
        #expect(try host.link(.name("vb-c1")) != nil)
        try container.deleteLink(.name("eth0"))
        #expect(try host.deleteLinkIfPresent(.name("vb-c1")) == false)
        let strict = #expect(throws: KernelError.self) { try host.deleteLink(.name("vb-c1")) }
        #expect(strict?.errno == .operationNotSupportedByDevice)

        #expect(try host.deleteLinkIfPresent(.name("vb-c2")) == true)
        #expect(try host.link(.name("vb-c2")) == nil)
        #expect(try container.links().map(\.name) == ["lo"])
    }

    @Test("addresses are added (with broadcast), listed by link, and deleted")
    func addresses() throws {
        let lab = NetlinkLab("addresses")
        let netlink = try RouteNetlink(namespace: lab.namespace("container"))
        let x = NetlinkLab.subnet()
        try netlink.createVeth("va", peer: "vb")
        try netlink.setLoopbackUp()
        let va = try #require(try netlink.link("va"))

        let first = IPv4Prefix(IPv4(10, 250, x, 2), 24)
        let second = IPv4Prefix(IPv4(10, 250, x, 9), 24)
        let point = IPv4Prefix(IPv4(10, 251, x, 1), 31)
        try netlink.addAddress(first, to: "va")
        try netlink.addAddress(second, to: .index(va.index))
        try netlink.addAddress(point, to: "vb")

        let onVA = try netlink.addresses(on: "va")
        #expect(onVA.map(\.prefix) == [first, second])
        #expect(onVA.allSatisfy { $0.linkIndex == va.index && $0.label == "va" && $0.scope == 0 })
        #expect(onVA.first?.broadcast == IPv4(10, 250, x, 255))
        #expect(try netlink.addresses(on: "vb").map(\.prefix) == [point])
        #expect(try netlink.addresses(on: "vb").first?.broadcast == nil)
        let all = try netlink.addresses()
        #expect(Set(all.map(\.prefix)) == [first, second, point, IPv4Prefix(IPv4(127, 0, 0, 1), 8)])

        let again = #expect(throws: KernelError.self) { try netlink.addAddress(first, to: "va") }
        #expect(again?.description.hasPrefix("add address(10.250.\(x).2/24 dev va): File exists") == true)

        try netlink.deleteAddress(second, from: "va")
        #expect(try netlink.addresses(on: "va").map(\.prefix) == [first])
        let gone = #expect(throws: KernelError.self) { try netlink.deleteAddress(second, from: "va") }
        #expect(gone?.errno == .addressNotAvailable)
        let noLink = #expect(throws: KernelError.self) { try netlink.addAddress(first, to: "vc") }
        #expect(noLink?.description == "add address(10.250.\(x).2/24 dev vc): No such device (no link vc)")
        // Deleting the primary address takes the subnet's secondaries with it.
        try netlink.addAddress(second, to: "va")
        try netlink.deleteAddress(first, from: "va")
        #expect(try netlink.addresses(on: "va") == [])
    }

    @Test("the default route is added via a gateway, dumped with its link, table and protocol, and deleted")
    func routes() throws {
        let lab = NetlinkLab("routes")
        let netlink = try RouteNetlink(namespace: lab.namespace("container"))
        let x = NetlinkLab.subnet()
        // A fresh namespace has no main table yet: that is no routes, not an error.
        #expect(try netlink.routes() == [])

        try netlink.createVeth("eth0", peer: "peer0", up: true)
        try netlink.setUp("peer0")
        let eth0 = try #require(try netlink.link("eth0"))
        try netlink.addAddress(IPv4Prefix(IPv4(10, 250, x, 2), 24), to: "eth0")
        let gateway = IPv4(10, 250, x, 1)
        try netlink.addDefaultRoute(via: gateway)
        try netlink.addRoute(IPv4Prefix(IPv4(10, 99, 7, 7), 16), via: gateway, device: "eth0", protocol: .static, metric: 50)

        let routes = try netlink.routes()
        let defaultRoute = try #require(routes.first { $0.isDefault })
        #expect(defaultRoute.gateway == gateway)
        #expect(defaultRoute.outputIndex == eth0.index)
        #expect(defaultRoute.table == RouteTable.main)
        #expect(defaultRoute.routeProtocol == .boot)
        #expect(defaultRoute.scope == 0)
        let subnet = try #require(routes.first { $0.destination == IPv4Prefix(IPv4(10, 250, x, 0), 24) })
        #expect(subnet.routeProtocol == .kernel)
        #expect(subnet.gateway == nil && subnet.scope == 253)
        #expect(subnet.preferredSource == IPv4(10, 250, x, 2))
        let added = try #require(routes.first { $0.destination == IPv4Prefix(IPv4(10, 99, 0, 0), 16) })
        #expect(added.routeProtocol == .static && added.metric == 50 && added.gateway == gateway)
        #expect(routes.count == 3)
        #expect(try netlink.routes(table: nil).contains { $0.table == RouteTable.local })

        let twice = #expect(throws: KernelError.self) { try netlink.addDefaultRoute(via: gateway) }
        #expect(twice?.description.hasPrefix("add route(default via 10.250.\(x).1): File exists") == true)
        let unreachable = #expect(throws: KernelError.self) { try netlink.addRoute(IPv4Prefix(IPv4(10, 98, 0, 0), 16), via: IPv4(192, 0, 2, 1)) }
        #expect(unreachable?.errno == .networkUnreachable)

        // Replace: one default route, the new gateway.
        try netlink.addDefaultRoute(via: IPv4(10, 250, x, 254), replace: true)
        #expect(try netlink.routes().filter(\.isDefault).map(\.gateway) == [IPv4(10, 250, x, 254)])

        try netlink.deleteRoute(.defaultRoute)
        #expect(try netlink.routes().contains { $0.isDefault } == false)
        let missing = #expect(throws: KernelError.self) { try netlink.deleteRoute(.defaultRoute) }
        #expect(missing?.errno == .noSuchProcess)
    }

    @Test("sockets are made inside a namespace without moving the calling thread")
    func namespaceSocketLeavesCallerAlone() throws {
        let before = try currentThreadNamespace()
        let lab = NetlinkLab("namespaceSocket")
        let namespace = try lab.namespace("container")
        let inside = try RouteNetlink(namespace: namespace)
        #expect(try currentThreadNamespace() == before)
        let seen = try namespace.perform { try currentThreadNamespace() }
        #expect(seen != before)
        #expect(try currentThreadNamespace() == before)

        // The socket stays in its namespace after the descriptor is closed.
        try inside.createBridge("only-here")
        try lab.close(namespace)
        #expect(try inside.links().map(\.name).sorted() == ["lo", "only-here"])
        #expect(try RouteNetlink().link("only-here") == nil)
    }

    @Test("a dump under churn is whole or a readable error, never partial; interrupted dumps are started again")
    func dumpUnderChurn() throws {
        let lab = NetlinkLab("dumpUnderChurn")
        let namespace = try lab.namespace("busy")
        let netlink = try RouteNetlink(namespace: namespace)
        try netlink.createBridge("br0")
        // Enough addresses that one dump spans several datagrams.
        let stable = (0..<1500).map { IPv4Prefix(IPv4(10, 200, UInt8($0 / 250), UInt8(1 + $0 % 250)), 32) }
        for address in stable { try netlink.addAddress(address, to: "br0") }
        func check() throws {
            let seen = try netlink.addresses().map(\.prefix).filter { $0.address.value >> 16 == 0x0AC8 }
            #expect(seen.count == stable.count)
            #expect(Set(seen) == Set(stable))
        }

        // Another socket adds and removes an address every few hundred
        // microseconds while the dumps run.
        let churner = try RouteNetlink(namespace: namespace)
        let stop = StopFlag()
        let churning = Thread {
            var n: UInt32 = 0
            while !stop.isSet {
                let address = IPv4Prefix(IPv4(0x0AC9_0000 | (n % 60_000) + 1), 32)
                try? churner.addAddress(address, to: "br0")
                try? churner.deleteAddress(address, from: "br0")
                n &+= 1
                usleep(200)
            }
            stop.finished.signal()
        }
        churning.start()
        var gaveUp = 0
        for _ in 0..<30 {
            do {
                try check()
            } catch let error as KernelError where error.errno == .interrupted {
                // A loaded machine can starve the dumping thread long enough
                // for every attempt to be interrupted: berth then says so.
                #expect(error.description.hasPrefix("dump addresses: Interrupted system call (the table kept changing"))
                gaveUp += 1
            }
        }
        stop.set()
        stop.finished.wait()
        try check()
        print("dumpUnderChurn: \(netlink.socket.dumpRestarts) interrupted dumps started again, \(gaveUp) of 30 gave up")
    }

    @Test("two namespaces joined by a bridge in a third reach each other")
    func connectivity() throws {
        let lab = NetlinkLab("connectivity")
        let x = NetlinkLab.subnet()
        let host = try RouteNetlink(namespace: lab.namespace("host"))
        let a = try lab.namespace("a"), b = try lab.namespace("b")
        try host.createBridge("br0", mac: MACAddress("02:be:27:00:00:10"), up: true)
        try host.addAddress(IPv4Prefix(IPv4(10, 250, x, 1), 24), to: "br0")

        for (index, namespace) in [(2, a), (3, b)] {
            try host.createVeth("vb-\(index)", peer: "eth0", peerNamespace: namespace, master: "br0", up: true)
            let container = try RouteNetlink(namespace: namespace)
            try container.setLoopbackUp()
            try container.setUp("eth0")
            try container.addAddress(IPv4Prefix(IPv4(10, 250, x, UInt8(index)), 24), to: "eth0")
            try container.addDefaultRoute(via: IPv4(10, 250, x, 1))
        }

        // ARP and the bridge learn in the first round trip; allow a few tries.
        var result = (status: Int32(-1), output: "")
        let deadline = Date().addingTimeInterval(15)
        repeat {
            result = try NetlinkLab.run(in: a, ["/bin/busybox", "ping", "-c1", "-W1", "10.250.\(x).3"])
        } while result.status != 0 && Date() < deadline
        #expect(result.status == 0, "\(result.output)")
        let toBridge = try NetlinkLab.run(in: b, ["/bin/busybox", "ping", "-c1", "-W1", "10.250.\(x).1"])
        #expect(toBridge.status == 0, "\(toBridge.output)")
        // Nobody answers an address no namespace has: the ping above can fail.
        let nobody = try NetlinkLab.run(in: a, ["/bin/busybox", "ping", "-c1", "-W1", "10.250.\(x).99"])
        #expect(nobody.status != 0)
    }
}
