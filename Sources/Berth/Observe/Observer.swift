import BerthKernel
import SystemPackage
import FoundationEssentials

/// Reads a project's state from the kernel: containers by their cgroups,
/// liveness from /proc (pid plus start time), limits from the cgroup files,
/// the hostname from inside the UTS namespace, the last exit from berth init's record.
public struct Observer: Sendable {
    public var cgroups: any CgroupDriver
    public var store: StateStore
    public var firewall: Firewall

    public init(cgroups: any CgroupDriver, store: StateStore, firewall: Firewall = Firewall()) {
        self.cgroups = cgroups
        self.store = store
        self.firewall = firewall
    }

    public static func projectCgroup(_ project: String) -> String { "berth/\(project)" }
    public static func containerCgroup(_ project: String, _ name: String) -> String { "berth/\(project)/\(name)" }

    /// Projects that have a cgroup.
    public func projects() -> [String] {
        ((try? cgroups.children(of: "berth")) ?? []).sorted()
    }

    public func observe(project: String, records: ProjectRecords) throws -> ObservedState {
        var state = ObservedState(project: project, volumes: Set(VolumeStore(store: store).names(project)))
        let inKernel = cgroups.exists(Self.projectCgroup(project))
            ? try cgroups.children(of: Self.projectCgroup(project)) : []
        let names = Set(inKernel).union(records.containers.keys).sorted()
        // Each container on every CPU, its UTS namespace opened there too (see `observe(...,
        // openingUTS:)`); every fd closed here, also when one container's look failed.
        let looks = try Concurrently.map(names) { name in
            Result { try observe(project: project, name: name, record: records.containers[name], openingUTS: true) }
        }
        let opened = looks.compactMap { try? $0.get() }.compactMap { look in look.uts.map { (look.container.name, $0) } }
        defer { for (_, fd) in opened { try? fd.close() } }
        for look in looks {
            let container = try look.get().container
            state.containers[container.name] = container
        }
        // Every hostname by one thread that joins each UTS namespace in turn: the ones opened
        // above, and through /proc those of an init found otherwise.
        let read = ProcFS.hostnames(inNamespaces: opened.map(\.1.rawValue))
        for ((name, _), hostname) in zip(opened, read) { state.containers[name]?.hostname = hostname }
        let throughFD = Set(opened.map(\.0))
        let others = state.containers.values.compactMap { seen -> ProcessIdentity? in
            guard let process = seen.process, !throughFD.contains(seen.name),
                  records.containers[seen.name]?.spec.namespaces.contains(.uts) ?? true else { return nil }
            return process
        }
        let hostnames = ProcFS.hostnames(of: others)
        for (name, seen) in state.containers {
            if let process = seen.process, let hostname = hostnames[process] { state.containers[name]?.hostname = hostname }
        }
        try observeNetworks(project: project, records: records, into: &state, containers: Set(state.containers.keys))
        return state
    }

    /// The project's networks (bridges, firewall rules, every container's ports) and the
    /// attachments of the running containers named in `containers`, into `state`.
    func observeNetworks(project: String, records: ProjectRecords, into state: inout ObservedState,
                         containers: Set<String>) throws {
        let bridges = records.networks.mapValues(\.spec.bridge)
        guard !bridges.isEmpty else { return }
        // One listing of berth's table for the networks' rules and the containers' ports.
        let listing = try firewall.listing()
        for name in state.containers.keys {
            let (forwards, edited) = listing.ports(project: project, container: name)
            state.containers[name]?.ports = ObservedPorts(forwards: forwards, edited: edited)
        }
        let networks = NetworkObserver(firewall: firewall)
        let host = try HostNetworkView()
        state.networks = try networks.observe(project: project, networks: bridges, listing: listing, host: host)
        try LanObserver.observe(project: project, records: records.networks, into: &state.networks)
        let attached = containers.sorted().compactMap { name -> (name: String, spec: Container, process: ProcessIdentity)? in
            guard let process = state.containers[name]?.process, let spec = records.containers[name]?.spec,
                  spec.namespaces.contains(.network), !spec.networks.isEmpty else { return nil }
            return (name, spec, process)
        }
        // Three rtnetlink answers and a /proc read each, on every CPU: each thread over a
        // socket of its own (a socket answers one request at a time), taken from the pool
        // that starts with the host view's.
        let sockets = RouteNetlinkPool([host.netlink])
        let sides = try Concurrently.map(attached) { c in
            Result {
                try sockets.with { netlink in
                    try networks.containerSide(project: project, container: c.spec, pid: c.process.pid, host: host,
                                               netlink: netlink)
                }
            }
        }
        for ((name, _, process), side) in zip(attached, sides) {
            do {
                let side = try side.get()
                state.containers[name]?.attachments = side.attachments
                state.containers[name]?.networkNamespaceID = side.namespaceID
            } catch where !process.isAlive {
                // It exited while we looked: it has no attachments to read, and is not running.
                state.containers[name]?.process = nil
                state.containers[name]?.lastExit = try ContainerRuntime.exitRecord(
                    stateDir: store.containerDirectory(project, name))
            }
            // Any other failure to read is an error of the observation, never "the veth is missing".
        }
    }

    /// One container, with its hostname.
    func observe(project: String, name: String, record: ContainerRecord?) throws -> ObservedContainer {
        let look = try observe(project: project, name: name, record: record, openingUTS: false)
        var seen = look.container
        if let process = seen.process, record?.spec.namespaces.contains(.uts) ?? true {
            seen.hostname = try? ProcFS.hostname(of: process)
        }
        return seen
    }

    /// One container without its hostname. `openingUTS`: the recorded init's UTS namespace
    /// is opened before the check that the init is alive, so that the check's one read of
    /// /proc/PID/stat also proves the namespace is that process's (a pid reused before the
    /// open fails it); the caller reads the hostname through it and closes it. nil when the
    /// init was found otherwise (an interrupted apply), or has no namespace of its own.
    func observe(project: String, name: String, record: ContainerRecord?,
                 openingUTS: Bool) throws -> (container: ObservedContainer, uts: FileDescriptor?) {
        let path = Self.containerCgroup(project, name)
        var seen = ObservedContainer(name: name)
        let stateDir = store.containerDirectory(project, name)
        if let saved = HealthRecord.read(stateDir: stateDir), saved.run == record?.process { seen.health = saved }
        // berth init's exit record, read only once its run is known to be over (it writes
        // the record before it exits): a running container, the common case, has none to show.
        func ended() throws -> (container: ObservedContainer, uts: FileDescriptor?) {
            seen.lastExit = try ContainerRuntime.exitRecord(stateDir: stateDir)
            return (seen, nil)
        }
        guard cgroups.exists(path) else { return try ended() }
        let process: ProcessIdentity?
        var uts: FileDescriptor?
        do {
            seen.limits = try cgroups.limits(of: path)
            // The recorded init still in its cgroup is the common case: one cgroup.procs
            // tells, instead of the union over every hierarchy that finding another needs.
            if let recorded = record?.process, try cgroups.contains(recorded.pid, in: path) {
                let opened = openingUTS && (record?.spec.namespaces.contains(.uts) ?? true)
                    ? try? ProcFS.openFile("/proc/\(recorded.pid)/ns/uts", .readOnly) : nil
                if recorded.isAlive {
                    process = recorded
                    uts = opened
                } else {
                    try? opened?.close()
                    process = Self.initProcess(among: try cgroups.processes(in: path), recorded: nil)
                }
            } else {
                process = Self.initProcess(among: try cgroups.processes(in: path), recorded: record?.process)
            }
        } catch let error as KernelError
                    where error.errno == .noSuchFileOrDirectory || error.errno == .operationNotSupportedByDevice || !cgroups.exists(path) {
            // Removed (or made) while we looked, hierarchy by hierarchy, by another berth
            // restarting or destroying it: for this look it is missing (a v1 file of a cgroup
            // removed under us reads ENODEV).
            seen.limits = nil
            return try ended()
        }
        guard let process else { return try ended() }
        seen.process = process
        if record?.spec.namespaces.contains(.network) ?? false {
            do {
                seen.hosts = try Self.readIfPresent(ContainerFiles.hostsPath(stateDir))
            } catch {
                try? uts?.close()
                throw error
            }
        }
        return (seen, uts)
    }

    /// berth init of a container: the recorded one when it is still the same process,
    /// otherwise the process of the cgroup whose parent is outside it (an apply that
    /// was interrupted before recording the pid).
    static func initProcess(among pids: [Int32], recorded: ProcessIdentity?) -> ProcessIdentity? {
        let members = Set(pids)
        if let recorded, members.contains(recorded.pid), recorded.isAlive {
            return recorded
        }
        for pid in pids.sorted() {
            guard let info = try? ProcFS.snapshot(pid: pid), info.state != .zombie,
                  !members.contains(info.parentPID) else { continue }
            return info.identity
        }
        return nil
    }
}

extension Observer {
    /// A file's text; nil when it does not exist (any other failure to read is an error).
    static func readIfPresent(_ path: String) throws -> String? {
        do {
            return String(decoding: try ProcFS.readBytes(path), as: UTF8.self)
        } catch let error as KernelError where error.errno == .noSuchFileOrDirectory {
            return nil
        }
    }

    /// How the current run of a container ended, from berth init's record.
    public func observeExit(project: String, name: String) throws -> ExitRecord? {
        try ContainerRuntime.exitRecord(stateDir: store.containerDirectory(project, name))
    }
}
