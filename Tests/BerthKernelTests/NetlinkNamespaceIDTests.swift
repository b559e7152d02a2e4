import Foundation
import Testing
@testable import BerthKernel

/// Reading a namespace from another one by the id the reader gives it, and hearing its
/// changes from there: what lets berth observe every container from one host socket.
/// Always in namespaces the test creates (``NetlinkLab``).
@Suite("Netlink across namespaces", .enabled(if: geteuid() == 0, "needs root"))
struct NetlinkNamespaceIDTests {
    @Test("one socket reads another namespace's links and addresses by its id")
    func targetedDumps() throws {
        let lab = NetlinkLab("targetedDumps")
        let host = try RouteNetlink(namespace: lab.namespace("host"))
        let containerNamespace = try lab.namespace("container")
        let container = try RouteNetlink(namespace: containerNamespace)
        let x = NetlinkLab.subnet()
        try host.createBridge("br0", up: true)
        try host.createVeth("vb-c1", peer: "eth0", peerNamespace: containerNamespace, master: "br0", up: true)
        try container.setUp("eth0")
        let address = IPv4Prefix(IPv4(10, 250, x, 10), 24)
        try container.addAddress(address, to: "eth0")

        let id = try host.namespaceID(of: .namespace(containerNamespace))
        #expect(id >= 0)
        #expect(try host.namespaceID(of: .namespace(containerNamespace)) == id)
        #expect(try host.assignedNamespaceID(of: .namespace(containerNamespace)) == id)
        // The host end of the veth names the same namespace by the same id.
        #expect(try host.link("vb-c1")?.peerNamespaceID == id)

        // Each link by name, as the container's own socket sees it; none by a name it lacks.
        #expect(try host.link(named: "lo", inNamespace: id)?.index == (try container.link("lo"))?.index)
        let eth0 = try #require(try host.link(named: "eth0", inNamespace: id))
        let own = try #require(try container.link("eth0"))
        #expect(eth0.index == own.index && eth0.mtu == own.mtu && eth0.mac == own.mac && eth0.kind == "veth")
        let hostEnd = try #require(try host.link("vb-c1"))
        #expect(eth0.isUp && eth0.peerIndex == hostEnd.index)
        #expect(try host.link(named: "eth1", inNamespace: id) == nil)
        // What the reading socket's namespace names by no id is an error, not a missing link.
        let stray = #expect(throws: KernelError.self) { try host.link(named: "eth0", inNamespace: id + 1000) }
        #expect(stray?.description.hasPrefix("get link(eth0 in netnsid \(id + 1000)): ") == true, "\(String(describing: stray))")
        let addresses = try host.addresses(inNamespace: id)
        #expect(addresses == (try container.addresses()))
        #expect(addresses.map(\.prefix) == [address])

    }

    @Test("a process that does not exist has no namespace id")
    func missingProcess() throws {
        let lab = NetlinkLab("missingProcess")
        let host = try RouteNetlink(namespace: lab.namespace("host"))
        let error = #expect(throws: KernelError.self) { try host.namespaceID(of: .process(Int32.max - 7)) }
        #expect(error?.errno == .noSuchProcess, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("get namespace id(/proc/\(Int32.max - 7)/ns/net): No such process") == true)
    }

    @Test("the default gateway read from /proc agrees with rtnetlink's main table")
    func defaultGatewayFromProc() throws {
        // This process's own namespace (the host's): read only, nothing changed.
        let fromNetlink = try RouteNetlink().routes().first { $0.isDefault && $0.gateway != nil }?.gateway
        #expect(try ProcFS.defaultGateway(pid: getpid()) == fromNetlink)

        let text = """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth0\t0001580A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            eth0\t00000000\t0101580A\t0003\t0\t0\t0\t00000000\t0\t0\t0

            """
        let gateway = try ProcFS.parseDefaultGateway(text, path: "route")
        #expect(gateway == (1 == 1.littleEndian ? IPv4(10, 88, 1, 1) : IPv4(1, 1, 88, 10)))
        #expect(try ProcFS.parseDefaultGateway(String(text.split(separator: "\n")[0]) + "\n", path: "route") == nil)
        #expect(throws: KernelError.self) { try ProcFS.parseDefaultGateway("h\neth0 zz\n", path: "route") }
    }

    @Test("link and address changes in a namespace with an id wake the waiter, named by that id")
    func eventsFromAnotherNamespace() throws {
        let lab = NetlinkLab("eventsFromAnotherNamespace")
        let namespace = try lab.namespace("container")
        let inside = try RouteNetlink(namespace: namespace)
        // The waiter listens in this process's namespace: the lab namespace needs an id there.
        let id = try RouteNetlink().namespaceID(of: .namespace(namespace))
        let waiter = EventWaiter()
        try waiter.watchNetworks()
        #expect(waiter.watchesNetworks)

        let name = "bev\(UInt16.random(in: 0...UInt16.max))"
        try inside.createBridge(name)
        let bridge = try #require(try inside.link(.name(name)))
        #expect(wait(waiter) { $0 == .networkChanged(.link(namespaceID: id, index: bridge.index, name: name)) })
        try inside.addAddress(IPv4Prefix(IPv4(10, 250, NetlinkLab.subnet(), 1), 24), to: .index(bridge.index))
        #expect(wait(waiter) { $0 == .networkChanged(.address(namespaceID: id, index: bridge.index)) })
        try inside.deleteLink(.index(bridge.index))
        #expect(wait(waiter) { $0 == .networkChanged(.link(namespaceID: id, index: bridge.index, name: name)) })
    }

    /// Waits (a few rounds, up to `timeout` in all) until a reason matching `match` comes.
    func wait(_ waiter: EventWaiter, timeout: Double = 5, _ match: (WakeReason) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if waiter.wait(timeout: deadline.timeIntervalSinceNow).contains(where: match) { return true }
        }
        return false
    }
}
