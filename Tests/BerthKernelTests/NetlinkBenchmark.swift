import Foundation
import Testing
@testable import BerthKernel

/// The figure of issue 5: attaching one container to a bridge (veth with the
/// peer made in the container's namespace, master, both ends up, address,
/// default route). Prints the median; never asserts on time.
///
///     BERTH_NETLINK_BENCH=200 swift test --filter NetlinkBenchmark
@Suite("NetlinkBenchmark", .enabled(if: geteuid() == 0 && ProcessInfo.processInfo.environment["BERTH_NETLINK_BENCH"] != nil,
                                    "set BERTH_NETLINK_BENCH=<runs>, as root"))
struct NetlinkBenchmark {
    @Test func attachOneContainer() throws {
        let runs = Int(ProcessInfo.processInfo.environment["BERTH_NETLINK_BENCH"] ?? "") ?? 200
        let lab = NetlinkLab("bench")
        // Stands in for the host's namespace, so that nothing is made in the real one.
        let host = try RouteNetlink(namespace: lab.namespace("host"))
        let gateway = IPv4(10, 250, 0, 1)
        try host.createBridge("br0", mtu: 1500, mac: MACAddress("02:be:27:00:00:01"), up: true)
        try host.addAddress(IPv4Prefix(gateway, 16), to: "br0")

        var total: [Duration] = [], openSocket: [Duration] = []
        let clock = ContinuousClock()
        for run in 0..<runs {
            // The runtime made the container's namespace; not timed.
            let namespace = try NetworkNamespace.create(label: "bench container \(run)")
            defer { try? namespace.close() }
            let hostEnd = "vb-\(run)"

            let start = clock.now
            let container = try RouteNetlink(namespace: namespace)
            let opened = clock.now
            try host.createVeth(hostEnd, peer: "eth0", peerNamespace: namespace, mtu: 1500, master: "br0", up: true)
            try container.setLoopbackUp()
            try container.setUp("eth0")
            try container.addAddress(IPv4Prefix(IPv4(10, 250, UInt8(1 + run / 250), UInt8(2 + run % 250)), 16), to: "eth0")
            try container.addDefaultRoute(via: gateway)
            let end = clock.now
            total.append(end - start)
            openSocket.append(opened - start)

            try host.deleteLink(.name(hostEnd))
        }
        func summary(_ samples: [Duration]) -> String {
            let sorted = samples.sorted()
            func ms(_ d: Duration) -> String {
                String(format: "%.3f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1e3)
            }
            return "median \(ms(sorted[sorted.count / 2])), p90 \(ms(sorted[sorted.count * 9 / 10])), "
                + "min \(ms(sorted[0])), max \(ms(sorted[sorted.count - 1]))"
        }
        print("attach one container, \(runs) runs: \(summary(total))")
        print("  of which opening the socket in the container's namespace: \(summary(openSocket))")
    }
}
