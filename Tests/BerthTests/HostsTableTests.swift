import BerthKernel
import Foundation
import Testing
@testable import Berth
import BerthSpec

/// `HostsTable.matches` must say exactly what comparing with `hosts(for:)` says: the
/// plan uses it to tell whether a container's /etc/hosts needs rewriting.
@Suite struct HostsTableTests {
    static func network(_ name: String, _ third: Int) -> Network {
        Network(name: name, subnet: IPv4CIDR("10.9.\(third).0/24")!, gateway: IPv4Address("10.9.\(third).1")!,
                bridge: "br-\(name)")
    }

    static func container(_ name: String, _ networks: [String], hostname: String? = nil) -> Container {
        var c = Container(name: name, rootfs: "/srv/rootfs", command: ["/bin/true"], hostname: hostname)
        c.networks = networks.map { NetworkAttachment(network: $0) }
        return c
    }

    static let spec = Spec(project: "hosts", networks: [network("a", 1), network("b", 2)], containers: [
        container("first", ["a"]), container("second", ["a"], hostname: "db"), container("third", ["a"]),
        container("both", ["a", "b"]), container("alone", ["b"]), container("none", []),
    ])

    let table = HostsTable(spec: Self.spec, addresses: IPAM.assign(spec: Self.spec, records: [:]))

    @Test(arguments: ["first", "second", "third", "both", "alone", "none"])
    func theFileItWritesMatches(_ name: String) throws {
        let c = try #require(Self.spec.containers.first { $0.name == name })
        #expect(table.matches(table.hosts(for: c), for: c))
    }

    @Test(arguments: ["first", "second", "third", "both", "alone"])
    func anyOtherTextDoesNot(_ name: String) throws {
        let c = try #require(Self.spec.containers.first { $0.name == name })
        let want = table.hosts(for: c)
        var lines = want.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // the empty string after the final newline
        let edits: [String] = [
            "",
            String(want.dropLast()),                                           // no final newline
            want + "10.9.1.99\textra\n",                                       // a line more
            lines.dropLast().joined(separator: "\n") + "\n",                   // the last line gone
            ([lines[0]] + lines.dropFirst(2)).joined(separator: "\n") + "\n",  // the second line gone
            want.replacingOccurrences(of: "\t", with: " "),                    // spaces for tabs
            (lines.prefix(2) + lines.dropFirst(2).reversed()).joined(separator: "\n") + "\n",  // reordered
        ]
        for text in edits where text != want {
            #expect(!table.matches(text, for: c), "\(name): \(text.debugDescription)")
        }
    }
}
