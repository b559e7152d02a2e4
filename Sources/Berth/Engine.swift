import BerthKernel
import FoundationEssentials
import Glibc

/// The pieces every command works with: the state store, the cgroup driver,
/// the spec-to-kernel mapping, and the `berth-init` executable each container runs as its init.
public struct Engine: Sendable {
    public var store: StateStore
    public var cgroups: any CgroupDriver
    public var mapping: KernelMapping
    /// The `berth-init` executable (beside the running berth, normally: ``InitExecutable``).
    public var executable: String

    public init(store: StateStore, cgroups: any CgroupDriver, mapping: KernelMapping = .host,
                executable: String = InitExecutable.path) {
        self.store = store
        self.cgroups = cgroups
        self.mapping = mapping
        self.executable = executable
    }

    /// The engine for this machine: cgroup mode detected, state under `stateDirectory`.
    public static func host(stateDirectory: String = StateStore.defaultRoot,
                            executable: String = InitExecutable.path) throws -> Engine {
        Engine(store: StateStore(root: stateDirectory), cgroups: try Cgroups.detect(), executable: executable)
    }

    /// berth's nftables rules: isolation between networks, masquerade.
    public var firewall = Firewall()
    /// registry: the manifest digest each registry reference names now, as `plan --refresh` asked
    /// the registry (reference -> digest); otherwise empty and plan reads the store only.
    public var registryDigests: [String: String] = [:]

    public var observer: Observer { Observer(cgroups: cgroups, store: store, firewall: firewall) }
    public var planner: Planner {
        // Remembered for this planner's plan: on v1 each normalisation reads the host's cpuset,
        // and a plan asks for every container's limits twice.
        let normalized = NormalizedLimits(driver: cgroups)
        return planner(normalize: { normalized.normalized($0) })
    }

    /// The planner with another source of normalised limits (the reconciler remembers them).
    public func planner(normalize: @escaping @Sendable (CgroupLimits) -> CgroupLimits) -> Planner {
        var planner = Planner(mapping: mapping, normalize: normalize)
        let engine = self
        planner.resolveImage = { engine.resolveImage($0) }  // images
        return planner
    }

    /// Observes and diffs; changes nothing (no lock, no file, no cgroup). Users are
    /// resolved first (``resolve(_:)``): a name the container's root lacks is a ``SpecError``.
    public func plan(_ spec: Spec) throws -> (plan: Plan, observed: ObservedState, records: ProjectRecords) {
        let spec = try resolve(spec)
        let records = try store.records(spec.project)
        let observed = try observer.observe(project: spec.project, records: records)
        return (planner.plan(spec: spec, observed: observed, records: records), observed, records)
    }

    /// Creates the cgroup, writes the limits, starts berth init and records it.
    @discardableResult
    func start(_ c: Container, spec: Spec, addresses: IPAM.Assignment, restarts: Int, lastExit: ExitRecord?,
               failures: Int = 0, freshRoot: Bool = false, lastStop: StopRecord? = nil) throws -> ProcessIdentity {
        let project = spec.project
        guard c.identity != nil || c.user.numericIdentity != nil else {
            throw StateError("start \(project)/\(c.name)", "user \(c.user) was not resolved in the container's root")
        }
        let path = Observer.containerCgroup(project, c.name)
        let dir = store.containerDirectory(project, c.name)
        var record = ContainerRecord(spec: c, limits: mapping.limits(for: c.resources),
                                     restarts: restarts, lastExit: lastExit, failures: failures)
        record.lastStop = lastStop
        let imageRoot = c.image == nil ? nil : try prepareImageRoot(c, project: project, fresh: freshRoot)  // images
        record.imageDigest = imageRoot?.image.digest
        record.imageRoot = imageRoot?.kind
        // The record is written once, when the container runs (below): until then the
        // previous record (or none) stands, and the next apply plans from it and from what
        // the kernel shows (a cgroup without a record is replaced, a dead run is started
        // again, a directory with neither is removed under the lock: ``lock(project:command:timeout:onWait:)``).
        let recorded = store.hasRecord(project, c.name)
        try store.createContainerDirectory(project, c.name)
        do {
            try Failpoint.startAfterDirectory.hit()
            try cgroups.create(path)
            try Failpoint.startAfterCgroup.hit()
            try cgroups.apply(record.limits, to: path)
            // operations: the OOM kills counted before this run (a cgroup left by an interrupted apply)
            record.oomKillsAtStart = try cgroups.usage(of: path).oomKills
            try Failpoint.startAfterLimits.hit()
            var extraMounts: [MountEntry] = []
            if c.namespaces.contains(.network) {
                // berth's own /etc/hosts and /etc/resolv.conf, rewritten in place later.
                let hosts = ContainerFiles.hostsPath(dir), resolv = ContainerFiles.resolvPath(dir)
                try ContainerFiles.update(hosts, ContainerFiles.hosts(for: c, spec: spec, addresses: addresses))
                try ContainerFiles.update(resolv, ContainerFiles.resolv(for: c))
                extraMounts = [.bind(source: hosts, target: "/etc/hosts", readOnly: false),
                               .bind(source: resolv, target: "/etc/resolv.conf", readOnly: false)]
            }
            try prepareVolumes(of: c, project: project)
            var config = mapping.config(for: c, project: project, extraMounts: extraMounts,
                                        volumeDirectory: { volumes.dataDirectory(project, $0) })
            if let r = imageRoot { config = imageConfig(config, c, root: r.root, overlay: r.overlay, config: r.config) }
            // Before init joins the cgroup: a device opened once stays open.
            try cgroups.applyDevices(DevicePolicy.container(config.devices), to: path)
            let networks = Dictionary(uniqueKeysWithValues: spec.networks.map { ($0.name, $0) })
            let net = NetworkApplier(project: project, firewall: firewall)
            let target = try cgroups.spawnTarget(path)
            defer { try? target?.close() }
            let id = try ContainerRuntime.start(config, stateDir: dir, executable: executable, cgroup: target) { pid in
                try cgroups.addProcess(pid, to: path)
                try Failpoint.startAfterSpawn.hit()
                // Before the command runs, so that it starts with its network up.
                if c.namespaces.contains(.network), !c.networks.isEmpty {
                    try net.ensureAttached(c, pid: pid, networks: networks, addresses: addresses)
                }
                try Failpoint.startAfterAttach.hit()
            }
            try Failpoint.startBeforeRecord.hit()
            if !c.ports.isEmpty {
                try firewall.ensurePorts(project: project, container: c.name,
                                         KernelMapping.portForwards(c, addresses: addresses))
            }
            record.process = id
            record.startedAt = Date().timeIntervalSince1970
            try store.write(record, project: project)
            return id
        } catch {
            // Undo, and say so when that fails too: a leftover is reported, never hidden.
            var undo: [any Error] = []
            do {
                try Failpoint.startRollback.hit()
                if cgroups.exists(path) {
                    try cgroups.killAll(in: path, timeout: .seconds(5))
                    try cgroups.remove(path)
                }
                // A first start that failed leaves no directory either (its error said why).
                if !recorded { try store.removeContainer(project: project, name: c.name) }
            } catch let failed {
                undo.append(failed)
            }
            throw undo.isEmpty ? error : UndoFailed(failure: error, undo: undo)
        }
    }

    /// Stops a container (its stop signal, then SIGKILL after its stop timeout),
    /// kills whatever else is left in its cgroup and removes the cgroup.
    /// Returns how it stopped (nil: it was not running).
    @discardableResult
    func stop(project: String, name: String, record: ContainerRecord?, reason: StopRecord.Reason) throws -> StopRecord? {
        let path = Observer.containerCgroup(project, name)
        var stopped: StopRecord?
        if cgroups.exists(path) {
            let pids = try cgroups.processes(in: path)
            if let id = Observer.initProcess(among: pids, recorded: record?.process) {
                stopped = try stopInit(id, project: project, name: name, spec: record?.spec, reason: reason)
            }
        }
        try removeKernelObjects(project: project, name: name, record: record)
        // Its veths go with its network namespace; a destroy waits for that at its end
        // (Applier.apply, NetworkApplier.removeVeths), a replacement's attach replaces them.
        // The rules go with the container (a replacement publishes its own again).
        if record.map({ !$0.spec.ports.isEmpty }) ?? false {
            try firewall.ensurePorts(project: project, container: name, [])
        }
        return stopped
    }

    /// Kills every process left in the container's cgroup and removes the cgroup.
    func removeKernelObjects(project: String, name: String, record: ContainerRecord?) throws {
        let path = Observer.containerCgroup(project, name)
        guard cgroups.exists(path) else { return }
        try cgroups.killAll(in: path, timeout: .seconds(10))
        try cgroups.remove(path)
    }

    /// The project's cgroup, and berth's top cgroup with its last project, once no container is left.
    func removeProjectCgroupsIfEmpty(_ project: String) {
        let path = Observer.projectCgroup(project)
        if cgroups.exists(path), (try? cgroups.children(of: path))?.isEmpty ?? false {
            try? cgroups.remove(path)
        }
        // berth's own top cgroup goes with its last project (rmdir refuses while another has one).
        if cgroups.exists("berth"), (try? cgroups.children(of: "berth"))?.isEmpty ?? false {
            try? cgroups.remove("berth")
        }
    }

    /// Takes the project's lock (see ``ProjectLock``) and removes what writers that died
    /// under it left behind (their temp files, the directory of a start that never ran).
    public func lock(project: String, command: String, timeout: Double,
                     onWait: (String) -> Void = { _ in }) throws -> ProjectLock {
        let lock = try ProjectLock.acquire(store: store, project: project, command: command, timeout: timeout,
                                           onWait: onWait)
        store.removeStaleTempFiles(project)
        // A container directory with no record and no cgroup is what a start killed before
        // both left (its record is written once the container runs): nothing runs there.
        for name in store.unrecordedContainers(project) where !cgroups.exists(Observer.containerCgroup(project, name)) {
            try? store.removeContainer(project: project, name: name)
        }
        return lock
    }

    /// The last step of an apply or destroy, with the project's lock held: a project that
    /// owns nothing any more leaves no cgroup and no directory. Returns whether it is gone.
    @discardableResult
    public func removeProjectIfEmpty(_ project: String, holding locks: [ProjectLock]) throws -> Bool {
        removeProjectCgroupsIfEmpty(project)
        guard !cgroups.exists(Observer.projectCgroup(project)) else { return false }
        return try store.removeProjectIfEmpty(project, holding: locks)
    }
}

extension Engine {
    /// Removes every container of a project (observed or recorded), its cgroups and its records.
    /// Call with the project's lock held; ``removeProjectIfEmpty(_:holding:)`` then removes its directory.
    public func destroy(project: String, output: @escaping @Sendable (ApplyStep) -> Void) throws -> ApplyReport {
        // Against an empty spec, the plan is exactly "destroy everything the project owns",
        // in the order apply uses: containers first, then the networks they were on.
        let empty = Spec(project: project, containers: [])
        let records = try store.records(project)
        let observed = try observer.observe(project: project, records: records)
        let plan = planner.plan(spec: empty, observed: observed, records: records)
        let report = try Applier(engine: self, output: output).apply(plan, spec: empty, records: records)
        removeProjectCgroupsIfEmpty(project)
        return report
    }

    /// Stops the project's reconciler, if one runs (SIGTERM; it finishes the step in
    /// progress), and takes its lock so that none starts until `destroy` is done.
    /// Returns that lock and the pid of the reconciler stopped, if there was one.
    public func stopReconciler(project: String, timeout: Double = 30) throws -> (lock: ProjectLock, stopped: Int32?) {
        let path = "\(store.projectDirectory(project))/reconciler.lock"
        let deadline = Date().addingTimeInterval(timeout)
        var signalled: Int32?
        while true {
            if let lock = try ProjectLock.tryAcquire(store: store, project: project, command: "destroy",
                                                     name: "reconciler.lock") {
                return (lock, signalled)
            }
            // The holder writes its pid just after taking the lock: until then, look again.
            if let holder = ProjectLock.holder(path), holder.command == "reconcile", signalled != holder.pid {
                guard kill(holder.pid, SIGTERM) == 0 || errno == ESRCH else {
                    throw StateError.errno("stop the reconciler (pid \(holder.pid)) of \(project)")
                }
                signalled = holder.pid
            }
            if Date() >= deadline {
                throw StateError("destroy \(project)",
                                 .reconcilerDidNotStop(pid: signalled ?? ProjectLock.holder(path)?.pid ?? 0,
                                                       waited: timeout))
            }
            usleep(20_000)
        }
    }
}

extension Engine {
    /// A container named on the command line: `NAME` (in the only project that has
    /// one of that name) or `PROJECT/NAME`; `project` narrows the search.
    public func locate(_ name: String, project: String? = nil) throws -> (project: String, name: String) {
        var project = project
        var container = name
        if let slash = name.firstIndex(of: "/") {
            project = String(name[..<slash])
            container = String(name[name.index(after: slash)...])
        }
        let candidates = (project.map { [$0] } ?? projects()).filter { p in
            FileManager.default.fileExists(atPath: store.containerDirectory(p, container))
                || cgroups.exists(Observer.containerCgroup(p, container))
        }
        switch candidates.count {
        case 1: return (candidates[0], container)
        case 0: throw StateError("find container \(name)", .noSuchContainer(project: project))
        default: throw StateError("find container \(name)", .ambiguous(projects: candidates))
        }
    }

    /// Runs a command inside a running container, with the container's user, environment,
    /// working directory and capabilities (or those `options` give), in its cgroup, in a
    /// session of its own. Returns how it ended.
    public func exec(project: String, name: String, argv: [String], options: ExecOptions = ExecOptions(),
                     stdin: Int32 = 0, stdout: Int32 = 1, stderr: Int32 = 2) throws -> ProcessExitStatus {
        let records = try store.records(project)
        let record = records.containers[name]
        let seen = try observer.observe(project: project, records: records).containers[name]
        guard let record, let process = seen?.process else {
            throw StateError("exec in \(project)/\(name)", .notRunning)
        }
        let config = execConfig(mapping.config(for: record.spec, project: project,
                                               volumeDirectory: { volumes.dataDirectory(project, $0) }),
                                record: record)
        let path = Observer.containerCgroup(project, name)
        let target = try cgroups.spawnTarget(path)
        defer { try? target?.close() }
        return try ContainerRuntime.exec(
            into: process, options.process(argv, like: config),
            executable: executable, stdin: stdin, stdout: stdout, stderr: stderr, terminal: options.terminal,
            cgroup: target
        ) { pid in try cgroups.addProcess(pid, to: path) }
    }

    /// The container's log file (its command's stdout and stderr).
    public func logPath(project: String, name: String) -> String {
        ContainerRuntime.logPath(stateDir: store.containerDirectory(project, name))
    }
}
