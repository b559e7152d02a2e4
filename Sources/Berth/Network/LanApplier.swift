import BerthKernel

extension Applier {
    /// Whether a network step involves a network on the LAN, now or in the record.
    func isOnTheLan(_ action: PlannedAction, spec: Spec, records: ProjectRecords) throws -> Bool {
        let name = action.object.name
        let wanted = spec.network(named: name)?.mode ?? .bridge
        let recorded = try engine.store.networkRecords(spec.project)[name]
        return wanted.isOnTheLAN || recorded?.spec.mode.isOnTheLAN == true || recorded?.uplink != nil
    }

    /// Creates, repairs, replaces or removes a lan or macvlan network, or a bridge network
    /// that replaces one: the NIC is taken over or given back as the record says.
    func runLanNetwork(_ action: PlannedAction, spec: Spec, records: ProjectRecords) throws -> String? {
        let project = spec.project
        let name = action.object.name
        let lan = LanUplink(project: project, store: engine.store)
        let net = NetworkApplier(project: project, firewall: engine.firewall)
        var stored = try engine.store.networkRecords(project)[name]

        /// Removes what the recorded network has in the kernel: the NIC back, or the bridge and its rules.
        func removeOld() throws {
            guard var record = stored else { return }
            if let state = record.uplink {
                try lan.giveBack(state, bridge: record.spec.bridge)
                record.uplink = nil
                try engine.store.write(record, project: project)
                stored = record
            } else if record.spec.mode == .macvlan {
                try MacvlanNetwork(project: project).remove(record.spec)
            } else {
                try net.deleteBridge(record.spec.bridge, network: name)
            }
        }

        switch action.kind {
        case .create, .update, .replace:
            let network = spec.network(named: name)!
            if action.kind == .replace || (stored.map { $0.spec.mode != network.mode || $0.spec.uplink != network.uplink } ?? false) {
                try removeOld()
            }
            var record = stored ?? NetworkRecord(spec: network, mac: NetworkNames.bridgeMAC(project: project, network: name).description)
            record.spec = network
            switch network.mode {
            case .lan:
                try lan.ensure(network, record: &record)
            case .macvlan:
                try MacvlanNetwork(project: project).ensure(network, allocations: record.allocations)
            case .bridge:
                let mac = NetworkNames.bridgeMAC(project: project, network: name)
                try net.ensureBridge(network, mac: mac)
                record.mac = mac.description
            }
            try Failpoint.networkBeforeRecord.hit()
            try engine.store.write(record, project: project)
            switch (action.kind, network.mode) {
            case (.create, .lan): return "took \(network.uplink ?? "") over into bridge \(network.bridge); router \(network.gateway) answers"
            case (.create, .macvlan): return "on \(network.uplink ?? "")" + (network.hostAccess ? ", host access through \(MacvlanNetwork.shimName(project: project, network: name))" : "")
            case (.create, .bridge): return "created bridge \(network.bridge) with \(network.gateway)/\(network.subnet.prefix)"
            case (.replace, _): return "replaced (\(network.mode.rawValue) network \(network.subnet))"
            default: return "updated " + action.changes.map(\.field).joined(separator: ", ")
            }
        case .destroy:
            try removeOld()
            try Failpoint.networkAfterDelete.hit()
            try engine.store.removeNetwork(project: project, name: name)
            return stored?.spec.mode == .lan ? "destroyed; \(stored?.spec.uplink ?? "the NIC") has its addresses and routes back" : "destroyed"
        case .start, .noop, .leave:
            return nil
        }
    }
}
