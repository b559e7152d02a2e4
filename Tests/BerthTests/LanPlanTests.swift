import Foundation
import BerthKernel
import Testing
@testable import Berth

/// Where the lan fields sit in a plan, and what ipRange hands out: pure, no root.
@Suite struct LanPlanTests {
    let planner = Planner(mapping: KernelMapping(resolveDevice: { _ in nil }), normalize: { $0 })

    static func lan(_ uplink: String = "eth1", mode: NetworkMode = .lan, ipRange: String? = "192.168.50.200/29") -> Network {
        Network(name: "lan", subnet: IPv4CIDR("192.168.50.0/24")!, gateway: IPv4Address("192.168.50.1")!, bridge: "br-lan",
                mode: mode, uplink: uplink, ipRange: ipRange.flatMap { IPv4CIDR($0) })
    }

    static let state = UplinkState(
        name: "eth1", mac: "52:54:00:12:34:56", mtu: 1500, up: true,
        addresses: [.init(prefix: "192.168.50.2/24", broadcast: "192.168.50.255")],
        routes: [.init(Route(destination: .defaultRoute, gateway: IPv4("192.168.50.1")!))], routerAnswered: true)

    func plan(_ network: Network, recorded: Network, seen: ObservedNetwork) -> PlannedAction {
        let record = NetworkRecord(spec: recorded, mac: Self.state.mac, uplink: Self.state)
        let p = planner.plan(spec: Spec(project: "demo", networks: [network], containers: []),
                             observed: ObservedState(project: "demo", networks: ["lan": seen]),
                             records: ProjectRecords(networks: ["lan": record]))
        return p.actions.first { $0.object == .network("lan") }!
    }

    static let taken = ObservedNetwork(name: "lan", bridge: ObservedBridge(mac: state.mac, addresses: ["192.168.50.2/24"]),
                                       isolated: false, uplink: ObservedUplink())

    @Test func aTakenOverNICAsRecordedIsNoChangeWithoutIsolationOrGatewayAddress() {
        #expect(plan(Self.lan(), recorded: Self.lan(), seen: Self.taken).kind == .noop)
    }

    @Test(arguments: [(Self.lan("eth2"), "uplink"), (Self.lan(mode: .macvlan), "mode")])
    func aChangedModeOrNICForcesReplacement(network: Network, field: String) {
        let action = plan(network, recorded: Self.lan(), seen: Self.taken)
        #expect(action.kind == .replace)
        #expect(action.changes.contains { $0.field == field && $0.forcesReplacement })
    }

    @Test func theNICTakenBackIsDrift() {
        var seen = Self.taken
        seen.uplink = ObservedUplink(enslaved: false, addressesOnNIC: ["192.168.50.2/24"], missingOnBridge: ["192.168.50.2/24"],
                                     missingRoutes: ["default via 192.168.50.1"])
        let action = plan(Self.lan(), recorded: Self.lan(), seen: seen)
        #expect(action.kind == .update)
        #expect(Set(action.changes.map(\.field)) == ["uplink", "addresses", "routes"])
        #expect(action.changes.allSatisfy { $0.drift != nil })
    }

    @Test func ipRangeIsAllBerthHandsOutAndNeverTheRouter() throws {
        var spec = Spec(project: "demo", networks: [Self.lan(ipRange: "192.168.50.0/30")], containers: [])
        for name in ["a", "b", "c"] {
            spec.containers.append(Container(name: name, rootfs: "/r", command: ["x"], networks: [NetworkAttachment(network: "lan")]))
        }
        let assigned = IPAM.assign(spec: spec, records: [:])
        // .0 is the subnet's network address, .1 the router: only .2 and .3 are left.
        #expect(Set(assigned.addresses["lan"]!.values.map(\.description)) == ["192.168.50.2", "192.168.50.3"])
        #expect(assigned.problems.count == 1)
        #expect(assigned.problems.first?.description.contains("networks.lan.ipRange: 192.168.50.0/30 is full") == true)
    }

    @Test func recordsWrittenBeforeTheLanFieldsStillDecode() throws {
        let old = #"{"name":"front","subnet":"10.88.1.0/24","gateway":"10.88.1.1","bridge":"br-x","masquerade":false}"#
        let network = try JSONDecoder().decode(Network.self, from: Data(old.utf8))
        #expect(network.mode == .bridge && network.uplink == nil && network.ipRange == nil && !network.hostAccess)
    }
}
