import BerthKernel

/// What the container planner needs to know of networks.
struct AttachmentContext {
    var spec: Spec
    var addresses: IPAM.Assignment
    var records: [String: NetworkRecord]
    /// Networks whose bridge apply makes anew: their containers must be attached again.
    var rebuilt: Set<String>
}

extension Planner {
    /// Actions for networks: those of the spec (run before containers), and those
    /// that left it (run after, once their containers are detached).
    func planNetworks(spec: Spec, observed: ObservedState, records: ProjectRecords)
        -> (early: [PlannedAction], late: [PlannedAction], rebuilt: Set<String>)
    {
        var early: [PlannedAction] = [], late: [PlannedAction] = []
        var rebuilt = Set<String>()
        for network in spec.networks {
            let ref = ObjectRef.network(network.name)
            guard let record = records.networks[network.name], let seen = observed.networks[network.name] else {
                early.append(PlannedAction(object: ref, kind: .create, reason: "not in the kernel"))
                rebuilt.insert(network.name)
                continue
            }
            let old = record.spec
            var forcing: [FieldChange] = []
            if old.subnet != network.subnet {
                forcing.append(FieldChange(field: "subnet", old: old.subnet.description, new: network.subnet.description,
                                           forcesReplacement: true))
            }
            if old.bridge != network.bridge {
                forcing.append(FieldChange(field: "bridge", old: old.bridge, new: network.bridge, forcesReplacement: true))
            }
            forcing += Self.modeChanges(old, network)
            if !forcing.isEmpty {
                rebuilt.insert(network.name)
                early.append(PlannedAction(
                    object: ref, kind: .replace,
                    reason: forcing.map(\.field).joined(separator: ", ") + " cannot change on a live network; its containers are attached again",
                    changes: forcing))
                continue
            }
            var changes: [FieldChange] = []
            if network.mode.isOnTheLAN {
                changes = network.mode == .lan ? lanNetworkChanges(network, record: record, seen: seen)
                    : macvlanNetworkChanges(network, record: record, seen: seen)
                let drifted = changes.contains { $0.drift != nil }
                early.append(changes.isEmpty ? PlannedAction(object: ref, kind: .noop, reason: "matches the spec")
                    : PlannedAction(object: ref, kind: .update, reason: drifted ? "changed outside berth" : "changed in the spec",
                                    changes: changes))
                continue
            }
            func field(_ name: String, _ applied: String?, _ wanted: String?, _ now: String?) {
                guard now != wanted else { return }
                if applied == now {
                    changes.append(FieldChange(field: name, old: applied, new: wanted))
                } else {
                    changes.append(FieldChange(field: name, old: now, new: wanted, drift: Drift(applied: applied, observed: now)))
                }
            }
            if let bridge = seen.bridge {
                let gateway = { (n: Network) in "\(n.gateway)/\(n.subnet.prefix)" }
                let address = bridge.addresses.isEmpty ? "(none)" : bridge.addresses.joined(separator: ", ")
                field("gateway", gateway(old), gateway(network), address)
                if let mtu = network.mtu {
                    field("mtu", old.mtu.map(String.init) ?? String(bridge.mtu), String(mtu), String(bridge.mtu))
                }
                if bridge.mac != record.mac {
                    changes.append(FieldChange(field: "mac", old: bridge.mac, new: record.mac,
                                               drift: Drift(applied: record.mac, observed: bridge.mac)))
                }
                if !bridge.up {
                    changes.append(FieldChange(field: "state", old: "down", new: "up", drift: Drift(applied: "up", observed: "down")))
                }
            } else {
                changes.append(FieldChange(field: "bridge", old: "(missing)", new: network.bridge,
                                           drift: Drift(applied: network.bridge, observed: "(missing)")))
            }
            field("masquerade", String(old.masquerade), String(network.masquerade), String(seen.masquerade))
            if !seen.isolated {
                changes.append(FieldChange(field: "isolation", old: "(missing)", new: "on",
                                           drift: Drift(applied: "on", observed: "(missing)")))
            }
            if changes.isEmpty {
                early.append(PlannedAction(object: ref, kind: .noop, reason: "matches the spec"))
            } else {
                let drifted = changes.contains { $0.drift != nil }
                early.append(PlannedAction(object: ref, kind: .update,
                                           reason: drifted ? "changed outside berth" : "changed in the spec", changes: changes))
            }
        }
        let wanted = Set(spec.networks.map(\.name))
        for name in records.networks.keys.sorted() where !wanted.contains(name) {
            late.append(PlannedAction(object: .network(name), kind: .destroy, reason: "not in the spec"))
        }
        return (early, late, rebuilt)
    }

    /// A running container's attachments compared with what the spec wants.
    func attachmentChanges(_ c: Container, observed: ObservedContainer, context: AttachmentContext) -> [FieldChange] {
        var changes: [FieldChange] = []
        for (i, attachment) in c.networks.enumerated() {
            guard let network = context.spec.network(named: attachment.network),
                  let ip = context.addresses.address(of: c.name, on: network.name) else { continue }
            let want = Self.describe(index: i, address: "\(ip)/\(network.subnet.prefix)", bridge: network.attachedTo,
                                     gateway: i == 0 ? network.gateway.description : nil)
            let field = "networks.\(network.name)"
            if context.rebuilt.contains(network.name) {
                changes.append(FieldChange(field: field, old: "attached to the old bridge", new: want))
                continue
            }
            let seen = observed.attachments[network.name].map { Self.describe(index: i, $0, first: i == 0) } ?? "(missing)"
            guard seen != want else { continue }
            let recorded = context.records[network.name]?.allocations[c.name]
            if let recorded, recorded != ip {
                let old = Self.describe(index: i, address: "\(recorded)/\(network.subnet.prefix)", bridge: network.attachedTo,
                                        gateway: i == 0 ? network.gateway.description : nil)
                changes.append(FieldChange(field: field, old: old, new: want))
            } else {
                changes.append(FieldChange(field: field, old: seen, new: want, drift: Drift(applied: want, observed: seen)))
            }
        }
        return changes
    }

    static func describe(index: Int, address: String, bridge: String, gateway: String?) -> String {
        var s = "\(NetworkNames.containerInterface(index)) \(address) on \(bridge)"
        if let gateway { s += ", default via \(gateway)" }
        return s
    }

    static func describe(index: Int, _ a: ObservedAttachment, first: Bool) -> String {
        guard a.hostVeth, a.interface else {
            return a.hostVeth ? "\(NetworkNames.containerInterface(index)) missing" : "veth missing"
        }
        if !a.hostUp || !a.interfaceUp { return "veth down" }
        let address = a.addresses.isEmpty ? "no address" : a.addresses.joined(separator: ", ")
        var s = "\(NetworkNames.containerInterface(index)) \(address) on \(a.master ?? "no bridge")"
        if first { s += a.defaultGateway.map { ", default via \($0)" } ?? ", no default route" }
        return s
    }
}

extension Planner {
    /// A running container's published ports: the rules its spec asks for (to its address
    /// as apply will assign it) against the rules in berth's table. Changed in place.
    func portChanges(_ c: Container, observed: ObservedContainer, record: ContainerRecord,
                     context: AttachmentContext) -> [FieldChange] {
        let wanted = KernelMapping.portForwards(c, addresses: context.addresses)
        let seen = observed.ports
        guard seen.forwards != wanted || seen.edited > 0 else { return [] }
        func show(_ forwards: [PortForward], edited: Int = 0) -> String {
            var parts = forwards.map(\.description)
            if edited > 0 { parts.append("\(edited) rule\(edited == 1 ? "" : "s") edited by hand") }
            return parts.isEmpty ? "(none)" : parts.joined(separator: ", ")
        }
        let now = show(seen.forwards, edited: seen.edited)
        // What berth applied last time: the recorded spec's ports, to the address recorded then.
        var applied = IPAM.Assignment()
        if let network = record.spec.networks.first?.network,
           let ip = context.records[network]?.allocations[c.name] {
            applied.addresses[network] = [c.name: ip]
        }
        let had = show(KernelMapping.portForwards(record.spec, addresses: applied))
        if had == now {
            return [FieldChange(field: "ports", old: now, new: show(wanted))]
        }
        return [FieldChange(field: "ports", old: now, new: show(wanted), drift: Drift(applied: had, observed: now))]
    }
}
