import BerthKernel

/// The reconciler's memory of what it observed, kept true by events, so that a pass
/// re-reads only what events cannot tell and what they said changed.
///
/// The kernel tells the reconciler when a container's init exits (its pidfd), when
/// anyone writes a file of a container's cgroup or creates or removes a cgroup of the
/// project (inotify on the cgroup directories), and when a hostname is set in any UTS
/// namespace (POLLPRI on /proc/sys/kernel/hostname, not saying which): then every
/// container's hostname is read again, through each init's pidfd (on every pass where
/// that cannot be watched). A project with
/// networks also hears rtnetlink (links, addresses, routes, in the host's namespace and
/// in the containers', by the id the host gives each) and nftables: a change to a
/// container's veth or interface makes that container stale, one to a bridge or to the
/// rules makes the networks stale. Everything is read afresh at least every
/// ``resyncEvery`` seconds, after lost events, and on every pass when a directory or
/// the network events could not be watched.
final class ObservationCache {
    let engine: Engine
    let project: String
    let events: EventWaiter
    /// Seconds between complete observations, events or not.
    let resyncEvery: Double

    /// The last observation of each container.
    private(set) var containers: [String: ObservedContainer] = [:]
    /// Containers that events said changed since their last observation.
    private(set) var stale: Set<String> = []
    private(set) var allStale = true
    /// A directory could not be watched (the inotify watch limit, say): events cannot be
    /// trusted to tell every change, so every pass observes everything.
    private(set) var watchFailed = false
    private var lastComplete = -Double.infinity
    /// The last observation of the project's networks (bridges and their rules).
    private(set) var networks: [String: ObservedNetwork] = [:]
    /// Events said a bridge or the firewall rules changed since.
    private(set) var networksStale = true
    /// Host ends of the containers' veths, by link name: whose they are.
    private var vethOwners: [String: String] = [:]
    /// The bridges' names, and the uplinks of LAN and macvlan networks.
    private var bridgeNames: Set<String> = []
    /// The project has a LAN or macvlan network: berth observes the host's NIC, its
    /// addresses and routes too, so any change on the host may concern it.
    private var onTheLAN = false
    /// Running containers by the id the host gives their network namespace.
    private var namespaceOwners: [Int32: String] = [:]
    /// How many complete observations were made, and how many times each container was
    /// read afresh outside them, over the cache's life: what the events saved.
    private(set) var completeObservations = 0
    private(set) var freshReads: [String: Int] = [:]
    /// The running containers that have their own UTS namespace (their hostnames are read).
    private var withHostname: Set<String> = []
    /// How many times the remembered containers' hostnames were read again.
    private(set) var hostnameReads = 0
    /// Changes whenever an observation read anything afresh (or found the volumes
    /// changed): two observations of the same generation are the same.
    private(set) var generation = 0
    private var volumes: Set<String> = []
    /// The last observation, and the generation of the records it was made with.
    private var last: (state: ObservedState, records: Int)?

    /// Called before each complete observation (to forget what depends on the host).
    let onComplete: () -> Void

    init(engine: Engine, project: String, events: EventWaiter, resyncEvery: Double,
         onComplete: @escaping () -> Void = {}) {
        self.engine = engine
        self.project = project
        self.events = events
        self.resyncEvery = resyncEvery
        self.onComplete = onComplete
    }

    func markStale(_ name: String) { stale.insert(name) }
    func markAllStale() { allStale = true }

    /// A hostname was set, somewhere (the event does not say where): reads the running
    /// containers' hostnames again; true when one of them is not what was last seen, for
    /// a pass to repair. Another project's or the host's leaves the reconciler asleep.
    func hostnamesChanged() -> Bool {
        guard readHostnames(of: withHostname, into: &containers) else { return false }
        generation += 1
        last = nil
        return true
    }

    /// Reads the hostnames of `names` (running, with their own UTS namespace) into their
    /// observations, all in one go; true when one is not what they held.
    private func readHostnames(of names: Set<String>, into seen: inout [String: ObservedContainer]) -> Bool {
        let ids = names.compactMap { name in seen[name]?.process.map { (name, $0) } }
        let now = events.hostnames(of: ids.map(\.1))
        hostnameReads += 1
        var changed = false
        for (name, id) in ids where seen[name]?.hostname != now[id] {
            seen[name]?.hostname = now[id]
            changed = true
        }
        return changed
    }

    /// The observed containers that run with their own UTS namespace.
    private static func withHostname(_ seen: some Collection<ObservedContainer>, records: ProjectRecords) -> Set<String> {
        Set(seen.filter { $0.process != nil && (records.containers[$0.name]?.spec.namespaces.contains(.uts) ?? true) }
            .map(\.name))
    }

    /// The container whose init had this pid, when one of them did.
    func container(withInit pid: Int32) -> String? {
        containers.first { $0.value.process?.pid == pid }?.key
    }

    /// Observes the project: completely when due, otherwise each container from memory
    /// unless it is stale (hostnames: ``hostnamesChanged()``; read on every pass only where
    /// hostnames being set cannot be heard).
    /// `recordsGeneration` (``RecordCache/generation``): records of the generation of the
    /// last observation, with nothing stale, give that observation again as it was.
    func observe(records: ProjectRecords, recordsGeneration: Int? = nil, now: Double) throws -> ObservedState {
        let networked = !records.networks.isEmpty
        if networked, !events.watchesNetworks {
            // Without the events, every pass observes everything, as it must.
            try? events.watchNetworks()
        }
        let state: ObservedState
        if allStale || watchFailed || (networked && !events.watchesNetworks) || now - lastComplete >= resyncEvery {
            onComplete()
            state = try engine.observer.observe(project: project, records: records)
            lastComplete = now
            containers = state.containers
            networks = state.networks
            networksStale = false
            stale = []
            allStale = false
            volumes = state.volumes
            watch(state, fresh: Set(state.containers.keys))
            completeObservations += 1
            generation += 1
        } else {
            let volumes = Set(VolumeStore(store: engine.store).names(project))
            // perf: nothing said anything changed, the records are the last look's: that look
            // again, without going over the containers (at 1,000 at rest, rebuilding the
            // state, re-watching and re-indexing every pass was a fifth of the reconciler).
            if let last, let recordsGeneration, last.records == recordsGeneration, stale.isEmpty,
               volumes == self.volumes, events.watchesHostnames, !(networked && networksStale) {
                return last.state
            }
            var partial = ObservedState(project: project, networks: networks, volumes: volumes)
            var changed = partial.volumes != self.volumes
            self.volumes = volumes
            var fresh: Set<String> = []
            var remembered: [String: ObservedContainer] = [:]
            for name in Set(containers.keys).union(records.containers.keys).union(stale) {
                let record = records.containers[name]
                if !stale.contains(name), let seen = containers[name], isStillTrue(seen, record: record) {
                    remembered[name] = seen
                    continue
                }
                let seen = try engine.observer.observe(project: project, name: name, record: record)
                fresh.insert(name)
                // Neither a cgroup nor a record: not the project's (any more).
                if seen.limits == nil, seen.process == nil, record == nil { continue }
                partial.containers[name] = seen
            }
            // Where hostnames being set cannot be heard: read them again, all in one go.
            if !events.watchesHostnames,
               readHostnames(of: Self.withHostname(remembered.values, records: records), into: &remembered) {
                changed = true
            }
            for (name, seen) in remembered { partial.containers[name] = seen }
            // The containers observed afresh need their ports and attachments; a change to
            // a bridge or to the rules, everything the listing and the bridges tell.
            if networked, networksStale || !fresh.isEmpty {
                try engine.observer.observeNetworks(project: project, records: records, into: &partial,
                                                    containers: fresh)
                networks = partial.networks
                networksStale = false
                changed = true
            }
            containers = partial.containers
            stale = []
            watch(partial, fresh: fresh)
            for name in fresh { freshReads[name, default: 0] += 1 }
            if changed || !fresh.isEmpty { generation += 1 }
            state = partial
        }
        index(records: records)
        last = recordsGeneration.map { (state, $0) }
        return state
    }

    /// What the network events are matched against: the veths' host ends, the bridges,
    /// the containers' namespace ids.
    private func index(records: ProjectRecords) {
        withHostname = Self.withHostname(containers.values, records: records)
        guard !records.networks.isEmpty else {
            vethOwners = [:]
            bridgeNames = []
            onTheLAN = false
            namespaceOwners = [:]
            return
        }
        var owners: [String: String] = [:]
        for (name, record) in records.containers {
            for attachment in record.spec.networks {
                owners[NetworkNames.hostVeth(project: project, container: name, network: attachment.network)] = name
            }
        }
        vethOwners = owners
        bridgeNames = Set(records.networks.values.flatMap { [$0.spec.bridge] + ($0.spec.uplink.map { [$0] } ?? []) })
        onTheLAN = records.networks.values.contains { $0.spec.mode.isOnTheLAN }
        var byID: [Int32: String] = [:]
        for (name, seen) in containers {
            if let id = seen.networkNamespaceID, seen.process != nil { byID[id] = name }
        }
        namespaceOwners = byID
    }

    /// Marks what a network event concerns stale; false when it is none of this project's
    /// (another project's veth, a namespace the project has no container in).
    func networkChanged(_ change: NetworkChange) -> Bool {
        switch change {
        case .firewall:
            networksStale = true
            return true
        case .link(.none, let index, let name):
            if let name, let owner = vethOwners[name] {
                stale.insert(owner)
                return true
            }
            if name.map(bridgeNames.contains) ?? false || isBridge(index) || onTheLAN {
                networksStale = true
                return true
            }
            return false
        case .address(.none, let index):
            guard isBridge(index) || onTheLAN else { return false }
            networksStale = true
            return true
        case .route(.none):
            // Only a LAN network's routes (moved between the NIC and the bridge) are observed.
            guard onTheLAN else { return false }
            networksStale = true
            return true
        case .link(let id?, _, _), .address(let id?, _), .route(let id?):
            guard let owner = namespaceOwners[id] else { return false }
            stale.insert(owner)
            return true
        }
    }

    private func isBridge(_ index: Int32) -> Bool {
        networks.values.contains { $0.bridge?.index == index }
    }

    /// A remembered observation holds while its init runs (its pidfd has not fired) and
    /// berth's record still names it; a stopped container changes only with events.
    private func isStillTrue(_ seen: ObservedContainer, record: ContainerRecord?) -> Bool {
        guard let id = seen.process else { return true }
        return events.isWatched(id) && (record?.process == nil || record?.process == id)
    }

    /// Watches the inits of the running containers and the cgroup directories of the
    /// containers just observed (the project's own directories too). An init that is
    /// already gone makes its container stale at once. (A write in the moment between
    /// reading a new cgroup and watching it is seen by the next complete observation.)
    private func watch(_ state: ObservedState, fresh: Set<String>) {
        let gone = events.watch(processes: state.containers.values.compactMap(\.process))
        for id in gone {
            if let name = state.containers.first(where: { $0.value.process == id })?.key { stale.insert(name) }
        }
        let cgroups = engine.cgroups
        do {
            for dir in cgroups.directories(of: Observer.projectCgroup(project)) {
                try events.watch(directory: dir, tag: "")
            }
            for name in fresh where state.containers[name]?.limits != nil {
                for dir in cgroups.directories(of: Observer.containerCgroup(project, name)) {
                    try events.watch(directory: dir, tag: name)
                }
            }
        } catch {
            watchFailed = true
        }
        events.unwatchDirectories(keeping: Set(state.containers.keys).union([""]))
    }

    /// True when something is known to need observing again.
    var hasStale: Bool { allStale || !stale.isEmpty || (networksStale && !networks.isEmpty) }
}
