import BerthKernel
import FoundationEssentials

/// Executes a plan against the kernel, step by step, printing each step as it happens.
///
/// Each step leaves nothing half-made: a container whose start fails has its
/// process killed and its cgroup removed before the error is reported. A container's
/// record is written once it runs; an apply interrupted before that leaves the previous
/// record (or none) beside what the kernel shows, which the next apply plans from and
/// finishes (networks' addresses are recorded before anything uses them).
public struct Applier: Sendable {
    public var engine: Engine
    /// Told of every step as it completes.
    public var output: @Sendable (ApplyStep) -> Void
    /// Asked before each step: true ends the apply there (a reconciler told to stop
    /// finishes the step in progress only). The next apply continues from there.
    public var shouldStop: @Sendable () -> Bool
    // operations
    /// How long a container waits for the conditions of its `dependsOn` (seconds).
    public var waitTimeout: Double = Applier.defaultWaitTimeout
    public static let defaultWaitTimeout = 120.0
    /// Containers with no order between them started at once, at most (1: one by one).
    public var parallelStarts: Int = Applier.defaultParallelStarts
    public static let defaultParallelStarts = 4

    public init(engine: Engine, output: @escaping @Sendable (ApplyStep) -> Void,
                shouldStop: @escaping @Sendable () -> Bool = { false }) {
        self.engine = engine
        self.output = output
        self.shouldStop = shouldStop
    }

    public func apply(_ plan: Plan, spec: Spec, records: ProjectRecords) throws -> ApplyReport {
        var report = ApplyReport()
        // A project whose last container was destroyed leaves no cgroup, also when a later step
        // fails; the destroyed containers' veths are gone when apply returns (all waited for
        // at once: each namespace's teardown deletes them, in batches).
        defer {
            let destroyed = report.done.filter { $0.object.kind == .container && $0.kind == .destroy }
            if !destroyed.isEmpty {
                engine.removeProjectCgroupsIfEmpty(spec.project)
                let containers = destroyed.compactMap { records.containers[$0.object.name]?.spec }
                // (Should this fail, the namespaces' teardown still takes them, only later.)
                try? NetworkApplier(project: spec.project, firewall: engine.firewall).removeVeths(of: containers)
            }
        }
        do {
            try recordAddresses(plan, spec: spec, records: records)
        } catch {
            throw ApplyError(failed: PlannedAction(object: .network("*"), kind: .update, reason: "record addresses"),
                             underlying: error, done: [], source: spec.source)
        }
        let actions = plan.actions.filter { $0.kind != .leave }
        var next = 0
        while next < actions.count {
            if shouldStop() { return report }
            let batch = parallelStarts > 1 ? Self.batch(actions, from: next, spec: spec) : next..<(next + 1)
            next = batch.upperBound
            if batch.count > 1 {
                // operations: starts with no order between them, side by side; once all of them
                // have ended, every one that failed is reported (in plan order), with what was done.
                var failures: [(PlannedAction, any Error)] = []
                for (action, outcome) in zip(actions[batch], runSideBySide(actions[batch], plan: plan, spec: spec, records: records)) {
                    switch outcome {
                    case .success(let line): if line != nil { report.done.append(action) }
                    case .failure(let error): failures.append((action, error))
                    }
                }
                if !failures.isEmpty { throw ApplyError(failures: failures, done: report.done, source: spec.source) }
                continue
            }
            let action = actions[batch.lowerBound]
            let started = ContinuousClock.now
            do {
                guard let line = try run(action, plan: plan, spec: spec, records: records) else { continue }
                output(ApplyStep(action: action, summary: line, milliseconds: (ContinuousClock.now - started).milliseconds))
                report.done.append(action)
            } catch {
                throw ApplyError(failed: action, underlying: error, done: report.done, source: spec.source)
            }
        }
        return report
    }

    /// Writes every address the plan hands out into the network records before any
    /// object uses it (released ones go), so that an interrupted apply never hands
    /// an address out twice and never leaks one.
    func recordAddresses(_ plan: Plan, spec: Spec, records: ProjectRecords) throws {
        for network in spec.networks {
            var record = records.networks[network.name]
                ?? NetworkRecord(spec: network, mac: NetworkNames.bridgeMAC(project: spec.project, network: network.name).description)
            let wanted = plan.addresses.addresses[network.name] ?? [:]
            guard record.allocations != wanted || records.networks[network.name] == nil else { continue }
            record.allocations = wanted
            try engine.store.write(record, project: spec.project)
            try Failpoint.ipamAfterRecord.hit()
        }
    }

    /// Runs one action; returns what was done, or nil for a step that changed nothing visible.
    func run(_ action: PlannedAction, plan: Plan, spec: Spec, records: ProjectRecords) throws -> String? {
        if action.object.kind == .network {
            return try runNetwork(action, spec: spec, records: records)
        }
        if action.object.kind == .volume {
            return try runVolume(action, project: spec.project)
        }
        let project = spec.project
        let name = action.object.name
        let record = records.containers[name]
        switch action.kind {
        case .create:
            let c = spec.container(named: name)!
            try waitForDependencies(of: c, spec: spec)
            // A leftover cgroup of an interrupted apply: empty it first.
            try engine.removeKernelObjects(project: project, name: name, record: record)
            let id = try engine.start(c, spec: spec, addresses: plan.addresses, restarts: 0, lastExit: nil, freshRoot: true)
            return "created, pid \(id.pid)" + engine.imageRootNote(project: project, name: name)
        case .start:
            let c = spec.container(named: name)!
            try waitForDependencies(of: c, spec: spec)
            var exit = try engine.observer.observeExit(project: project, name: name)
            if exit != nil, let record { exit?.oomKilled = engine.oomKilledThisRun(project: project, name: name, record: record) }
            try engine.removeKernelObjects(project: project, name: name, record: record)
            // Without an exit record (berth init itself was killed) the run ended no
            // later than now: a container killed after long hours is forgiven its failures.
            let ran = record?.startedAt.map { (exit?.finishedAt ?? Date().timeIntervalSince1970) - $0 }
            let failures = RestartBackoff.failures(previous: record?.failures ?? 0, ranFor: ran) + 1
            // No exit record: the run that ended left none; an older one would mislead.
            let id = try engine.start(c, spec: spec, addresses: plan.addresses, restarts: (record?.restarts ?? 0) + 1,
                                      lastExit: exit, failures: failures,
                                      lastStop: record.flatMap { engine.lastStop(project: project, name: name, record: $0) })
            return "started again, pid \(id.pid)"
        case .replace:
            let c = spec.container(named: name)!
            try waitForDependencies(of: c, spec: spec)
            let stopped = try engine.stop(project: project, name: name, record: record, reason: .replace)
            try Failpoint.replaceAfterStop.hit()
            let id = try engine.start(c, spec: spec, addresses: plan.addresses, restarts: 0, lastExit: nil, freshRoot: true,
                                      lastStop: stopped)
            return "replaced, pid \(id.pid)" + (stopped.map { " (old one \($0.summary))" } ?? "")
        case .update:
            let c = spec.container(named: name)!
            guard var record else { return nil }
            let path = Observer.containerCgroup(project, name)
            let limits = engine.mapping.limits(for: c.resources)
            if engine.cgroups.exists(path) {
                try engine.cgroups.apply(limits, to: path)
                try Failpoint.updateAfterLimits.hit()
            }
            if action.changes.contains(where: { $0.field == "hostname" }), let id = record.process {
                try ProcFS.setHostname(c.hostname, of: id)
            }
            if action.changes.contains(where: { $0.field.hasPrefix("networks.") }), let id = record.process {
                let networks = Dictionary(uniqueKeysWithValues: spec.networks.map { ($0.name, $0) })
                try NetworkApplier(project: project, firewall: engine.firewall)
                    .ensureAttached(c, pid: id.pid, networks: networks, addresses: plan.addresses)
            }
            if action.changes.contains(where: { $0.field == "ports" }) {
                try engine.firewall.ensurePorts(project: project, container: name,
                                                KernelMapping.portForwards(c, addresses: plan.addresses))
            }
            if action.changes.contains(where: { $0.field == ContainerFiles.hostsField }) {
                // In place: the bind mount holds the inode, the container sees it at once.
                try ContainerFiles.update(ContainerFiles.hostsPath(engine.store.containerDirectory(project, name)),
                                          ContainerFiles.hosts(for: c, spec: spec, addresses: plan.addresses))
            }
            if action.changes.contains(where: { $0.field == "dns" }) {
                try ContainerFiles.update(ContainerFiles.resolvPath(engine.store.containerDirectory(project, name)),
                                          ContainerFiles.resolv(for: c))
            }
            try Failpoint.updateBeforeRecord.hit()
            record.spec = c
            record.limits = limits
            try engine.store.write(record, project: project)
            return "updated " + action.changes.map(\.field).joined(separator: ", ")
        case .destroy:
            let stopped = try engine.stop(project: project, name: name, record: record, reason: .destroy)
            try Failpoint.destroyAfterStop.hit()
            try engine.store.removeContainer(project: project, name: name)
            // The project's cgroup goes once, after the last destroy (see ``apply(_:spec:records:)``):
            // telling whether it is empty lists every container's cgroup in every hierarchy.
            return "destroyed" + (stopped.map { " (\($0.summary))" } ?? "")
        case .noop:
            // Same values written differently (1Gi -> 1024Mi): keep the record in the user's words.
            if var record, let c = spec.container(named: name), record.spec != c {
                record.spec = c
                record.limits = engine.mapping.limits(for: c.resources)
                try engine.store.write(record, project: project)
            }
            return nil
        case .leave:
            return nil
        }
    }
}

extension Applier {
    /// Creates, repairs, replaces or removes a bridge, recording it as it goes.
    func runNetwork(_ action: PlannedAction, spec: Spec, records: ProjectRecords) throws -> String? {
        let project = spec.project
        let name = action.object.name
        let net = NetworkApplier(project: project, firewall: engine.firewall)
        if try isOnTheLan(action, spec: spec, records: records) {
            return try runLanNetwork(action, spec: spec, records: records)
        }
        switch action.kind {
        case .create, .update, .replace:
            let network = spec.network(named: name)!
            let stored = try engine.store.networkRecords(project)[name]
            if action.kind == .replace, let old = stored?.spec {
                try net.deleteBridge(old.bridge, network: name)
            }
            let mac = NetworkNames.bridgeMAC(project: project, network: name)
            try net.ensureBridge(network, mac: mac)
            try Failpoint.networkBeforeRecord.hit()
            var record = stored ?? NetworkRecord(spec: network, mac: mac.description)
            record.spec = network
            record.mac = mac.description
            try engine.store.write(record, project: project)
            switch action.kind {
            case .create: return "created bridge \(network.bridge) with \(network.gateway)/\(network.subnet.prefix)"
            case .replace: return "replaced bridge \(network.bridge) (\(network.subnet))"
            default: return "updated " + action.changes.map(\.field).joined(separator: ", ")
            }
        case .destroy:
            if let old = records.networks[name]?.spec {
                try net.deleteBridge(old.bridge, network: name)
            }
            try Failpoint.networkAfterDelete.hit()
            try engine.store.removeNetwork(project: project, name: name)
            return "destroyed"
        case .start, .noop, .leave:
            return nil
        }
    }
}

/// One completed step of an apply.
public struct ApplyStep: Sendable {
    public var action: PlannedAction
    /// What was done, e.g. "created, pid 4242".
    public var summary: String
    public var milliseconds: Int64

    /// `  + container web: created, pid 4242 (9 ms)`
    public var line: String {
        "\(action.kind.symbol.padded(3)) \(action.object.kind.rawValue) \(action.object.name): \(summary) (\(milliseconds) ms)"
    }
}

extension Engine {
    /// Checks the machine for the whole spec, then executes the plan. Call with the project's lock held.
    public func apply(_ spec: Spec, plan: Plan, records: ProjectRecords,
                      shouldStop: @escaping @Sendable () -> Bool = { false },
                      waitTimeout: Double = Applier.defaultWaitTimeout,
                      parallelStarts: Int = Applier.defaultParallelStarts,
                      output: @escaping @Sendable (ApplyStep) -> Void) throws -> ApplyReport {
        // The plan was made from the resolved spec (``plan(_:)``); a caller's copy may not be.
        let spec = try resolve(spec)
        let neighbours = spec.networks.isEmpty ? [] : store.neighbourNetworks(of: spec.project)
        let problems = Preflight.problems(spec: spec, plan: plan, records: records, mapping: mapping,
                                          firewall: firewall, neighbours: neighbours) + imageProblems(spec: spec, plan: plan)
        guard problems.isEmpty else { throw PreflightError(problems: problems, source: spec.source) }
        var applier = Applier(engine: self, output: output, shouldStop: shouldStop)
        applier.waitTimeout = waitTimeout
        applier.parallelStarts = parallelStarts
        return try applier.apply(plan, spec: spec, records: records)
    }
}

/// What an apply did.
public struct ApplyReport: Sendable {
    public var done: [PlannedAction] = []

    public var summary: String {
        func n(_ k: ActionKind) -> Int { done.filter { $0.kind == k }.count }
        if done.isEmpty { return "Apply complete: nothing to do." }
        return "Apply complete: \(n(.create)) created, \(n(.update)) updated, \(n(.start)) started again, "
            + "\(n(.replace)) replaced, \(n(.destroy)) destroyed."
    }
}

/// A step failed, and undoing what it had done failed too: something is left behind
/// (the next apply finds and removes it).
public struct UndoFailed: Error, CustomStringConvertible, Sendable {
    public var failure: any Error
    public var undo: [any Error]

    public init(failure: any Error, undo: [any Error]) {
        self.failure = failure
        self.undo = undo
    }

    public var description: String { "\(failure)" }
}

extension Swift.Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}

extension String {
    func padded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
