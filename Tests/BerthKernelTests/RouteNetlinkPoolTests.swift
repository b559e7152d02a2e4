import Foundation
import Testing
@testable import BerthKernel

/// The sockets an observation spreads over its threads: one per reader at a time,
/// handed out again once its request is answered, dropped when a request failed.
@Suite("rtnetlink socket pool", .enabled(if: geteuid() == 0, "needs root"))
struct RouteNetlinkPoolTests {
    @Test("a socket is handed out again after a request, never to two readers at once, and dropped after a failure")
    func reuseAndDrop() throws {
        let lab = NetlinkLab("socketPool")
        let namespace = try lab.namespace("host")
        let seed = try RouteNetlink(namespace: namespace)
        let pool = RouteNetlinkPool([seed])
        try seed.createBridge("br0", up: true)

        // In turn: the seed each time, answering in its namespace.
        for _ in 0..<3 {
            let names = try pool.with { netlink in
                #expect(netlink === seed)
                return try netlink.links().map(\.name).sorted()
            }
            #expect(names == ["br0", "lo"])
        }
        #expect(pool.idleCount == 1)

        // Two readers at once: the second gets a socket of its own (a new one).
        try pool.with { outer in
            #expect(outer === seed)
            try pool.with { inner in #expect(inner !== outer) }
            #expect(try outer.link("br0") != nil)
        }
        #expect(pool.idleCount == 2)

        // A failed request: that socket is not handed out again.
        struct Refused: Error {}
        var failed: RouteNetlink?
        #expect(throws: Refused.self) {
            try pool.with { netlink in
                failed = netlink
                throw Refused()
            }
        }
        #expect(pool.idleCount == 1)
        try pool.with { netlink in #expect(netlink !== failed) }
    }
}
