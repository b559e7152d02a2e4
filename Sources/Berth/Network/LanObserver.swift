import BerthKernel

/// What the kernel shows of a lan network's takeover, against the NIC's recorded state:
/// everything a plan needs to show the drift and apply needs to repair it.
public struct ObservedUplink: Sendable, Equatable {
    /// The NIC exists.
    public var present: Bool
    /// The NIC is a port of the network's bridge.
    public var enslaved: Bool
    /// Recorded addresses found back on the NIC (someone put them back).
    public var addressesOnNIC: [String]
    /// Recorded addresses missing from the bridge.
    public var missingOnBridge: [String]
    /// Recorded routes that do not leave by the bridge.
    public var missingRoutes: [String]
    /// macvlan: the host's shim (`hostAccess`) exists.
    public var shim = false

    public init(present: Bool = true, enslaved: Bool = true, addressesOnNIC: [String] = [], missingOnBridge: [String] = [],
                missingRoutes: [String] = [], shim: Bool = false) {
        self.shim = shim
        self.present = present
        self.enslaved = enslaved
        self.addressesOnNIC = addressesOnNIC
        self.missingOnBridge = missingOnBridge
        self.missingRoutes = missingRoutes
    }
}

enum LanObserver {
    /// Fills in `uplink` of every observed lan network whose record holds the NIC's state.
    static func observe(project: String, records: [String: NetworkRecord], into networks: inout [String: ObservedNetwork]) throws {
        let taken = records.values.filter { $0.spec.mode == .lan && $0.uplink != nil }
        let macvlans = records.values.filter { $0.spec.mode == .macvlan }
        guard !taken.isEmpty || !macvlans.isEmpty else { return }
        let host = try RouteNetlink()
        let links = try host.links()
        for record in macvlans where networks[record.spec.name] != nil {
            let shim = NetworkNames.macvlanShim(project: project, network: record.spec.name)
            networks[record.spec.name]?.uplink = ObservedUplink(
                present: links.contains { $0.name == record.spec.uplink }, enslaved: false,
                shim: links.contains { $0.name == shim && $0.kind == "macvlan" && $0.isUp })
        }
        guard !taken.isEmpty else { return }
        let addresses = try host.addresses()
        let routes = try host.routes()
        for record in taken {
            guard let state = record.uplink, networks[record.spec.name] != nil else { continue }
            let bridge = links.first { $0.name == record.spec.bridge && $0.kind == "bridge" }
            guard let nic = links.first(where: { $0.name == state.name }) else {
                networks[record.spec.name]?.uplink = ObservedUplink(present: false, enslaved: false)
                continue
            }
            let onNIC = Set(addresses.filter { $0.linkIndex == nic.index }.map(\.prefix.description))
            let onBridge = Set(addresses.filter { $0.linkIndex == bridge?.index }.map(\.prefix.description))
            let viaBridge = routes.filter { bridge != nil && $0.outputIndex == bridge!.index }
            networks[record.spec.name]?.uplink = ObservedUplink(
                present: true,
                enslaved: bridge != nil && nic.masterIndex == bridge!.index,
                addressesOnNIC: state.addresses.map(\.prefix).filter { onNIC.contains($0) },
                missingOnBridge: state.addresses.map(\.prefix).filter { !onBridge.contains($0) },
                missingRoutes: state.routes.filter { r in
                    let want = r.kernel(on: bridge?.index ?? 0)
                    return !viaBridge.contains { LanUplink.same($0, want) }
                }.map(\.description))
        }
    }
}

extension Planner {
    /// A changed mode or NIC makes another network: forces a replacement.
    static func modeChanges(_ old: Network, _ new: Network) -> [FieldChange] {
        var out: [FieldChange] = []
        if old.mode != new.mode {
            out.append(FieldChange(field: "mode", old: old.mode.rawValue, new: new.mode.rawValue, forcesReplacement: true))
        }
        if old.uplink != new.uplink {
            out.append(FieldChange(field: new.mode == .macvlan ? "parent" : "uplink", old: old.uplink ?? "(none)",
                                   new: new.uplink ?? "(none)", forcesReplacement: true))
        }
        return out
    }

    /// A macvlan network: its parent is there, and the host's shim exists exactly with `hostAccess`.
    func macvlanNetworkChanges(_ network: Network, record: NetworkRecord, seen: ObservedNetwork) -> [FieldChange] {
        let observed = seen.uplink ?? ObservedUplink(present: false, enslaved: false)
        var changes: [FieldChange] = []
        if !observed.present {
            changes.append(FieldChange(field: "parent", old: "\(network.uplink ?? "") missing", new: network.uplink,
                                       drift: Drift(applied: network.uplink, observed: "missing")))
        }
        if observed.shim != network.hostAccess {
            let now = observed.shim ? "on" : "off", want = network.hostAccess ? "on" : "off"
            if record.spec.hostAccess == network.hostAccess {
                changes.append(FieldChange(field: "hostAccess", old: now, new: want, drift: Drift(applied: want, observed: now)))
            } else {
                changes.append(FieldChange(field: "hostAccess", old: now, new: want))
            }
        }
        return changes
    }

    /// A lan network found in the kernel: its bridge and the takeover of its NIC against the record.
    func lanNetworkChanges(_ network: Network, record: NetworkRecord, seen: ObservedNetwork) -> [FieldChange] {
        var changes: [FieldChange] = []
        func drift(_ field: String, _ observed: String, _ applied: String) {
            changes.append(FieldChange(field: field, old: observed, new: applied, drift: Drift(applied: applied, observed: observed)))
        }
        guard let bridge = seen.bridge else {
            drift("bridge", "(missing)", network.bridge)
            return changes
        }
        if bridge.mac != record.mac { drift("mac", bridge.mac ?? "(none)", record.mac) }
        if !bridge.up { drift("state", "down", "up") }
        guard let uplink = seen.uplink, let state = record.uplink else {
            // The record holds no NIC state: a takeover that never began.
            drift("uplink", "not taken over", "\(network.uplink ?? "") a port of \(network.bridge)")
            return changes
        }
        if !uplink.present {
            drift("uplink", "\(state.name) missing", "\(state.name) a port of \(network.bridge)")
            return changes
        }
        if !uplink.enslaved { drift("uplink", "\(state.name) not a port of \(network.bridge)", "\(state.name) a port of \(network.bridge)") }
        if !uplink.missingOnBridge.isEmpty || !uplink.addressesOnNIC.isEmpty {
            let want = state.addresses.map(\.prefix).joined(separator: ", ") + " on \(network.bridge)"
            var now: [String] = []
            if !uplink.addressesOnNIC.isEmpty { now.append(uplink.addressesOnNIC.joined(separator: ", ") + " on \(state.name)") }
            if !uplink.missingOnBridge.isEmpty { now.append(uplink.missingOnBridge.joined(separator: ", ") + " missing on \(network.bridge)") }
            drift("addresses", now.joined(separator: "; "), want)
        }
        if !uplink.missingRoutes.isEmpty {
            drift("routes", uplink.missingRoutes.joined(separator: ", ") + " not via \(network.bridge)",
                  state.routes.map(\.description).joined(separator: ", ") + " via \(network.bridge)")
        }
        return changes
    }
}
