import BerthKernel

/// Computes a ``Plan``: a pure function of the spec, the observed state and berth's records.
///
/// Order of the actions is the order apply runs them: containers that left the
/// spec first (freeing names and addresses), then the spec's networks and missing
/// volumes, then every
/// container of the spec in file order, then networks that left the spec (once
/// their containers are detached).
public struct Planner: Sendable {
    public var mapping: KernelMapping
    /// What the kernel will read back after writing these limits (rounding), from the cgroup driver.
    public var normalize: @Sendable (CgroupLimits) -> CgroupLimits
    // images
    /// The manifest digest an `image:` resolves to now (the store and the source's index,
    /// never an import); nil when it cannot be told before apply imports it.
    public var resolveImage: @Sendable (ImageSource) -> String? = { _ in nil }

    public init(mapping: KernelMapping, normalize: @escaping @Sendable (CgroupLimits) -> CgroupLimits) {
        self.mapping = mapping
        self.normalize = normalize
    }

    /// What a plan of `spec` looks up beside its arguments: the digest each image source
    /// resolves to now, and the number of each io-throttled device path. Plans of equal
    /// arguments and equal lookups are equal (the normalised limits follow the cgroup
    /// driver, which only a complete observation sees change).
    public struct Lookups: Equatable, Sendable {
        var images: [ImageSource: String?] = [:]
        var devices: [String: [UInt32]] = [:]
    }

    public func lookups(for spec: Spec) -> Lookups {
        var out = Lookups()
        for c in spec.containers {
            if let source = c.image, out.images[source] == nil { out.images[source] = .some(resolveImage(source)) }
            for limit in c.resources.io {
                guard case .path(let path) = limit.device, out.devices[path] == nil else { continue }
                out.devices[path] = mapping.resolveDevice(path).map { [$0.major, $0.minor] } ?? []
            }
        }
        return out
    }

    public func plan(spec: Spec, observed: ObservedState, records: ProjectRecords) -> Plan {
        var actions: [PlannedAction] = []
        let wanted = Set(spec.containers.map(\.name))
        let known = Set(observed.containers.keys).union(records.containers.keys)
        // Dependents go before what they depend on.
        let leaving = DependencyOrder.removalOrder(Array(known.subtracting(wanted)),
                                                   specs: records.containers.mapValues(\.spec))
        for name in leaving {
            let running = observed.containers[name]?.isRunning ?? false
            actions.append(PlannedAction(
                object: .container(name), kind: .destroy,
                reason: running ? "not in the spec" : "not in the spec (not running)"))
        }
        let addresses = IPAM.assign(spec: spec, records: records.networks)
        let networks = planNetworks(spec: spec, observed: observed, records: records)
        actions += networks.early
        actions += Self.planVolumes(spec: spec, observed: observed)
        let context = AttachmentContext(spec: spec, addresses: addresses, records: records.networks,
                                        rebuilt: networks.rebuilt, hosts: HostsTable(spec: spec, addresses: addresses))
        // Dependencies first (apply waits for their conditions before it starts a dependent).
        var replaced: Set<String> = []
        for container in DependencyOrder.startOrder(spec.containers) {
            var action = plan(container, observed: observed.containers[container.name],
                              record: records.containers[container.name], context: context)
            if action.kind == .replace { replaced.insert(container.name) }
            // Compose's `restart: true`: a replaced dependency takes its dependents with it.
            if let d = container.dependsOn.first(where: { $0.restart && replaced.contains($0.name) }),
               action.kind == .noop || action.kind == .update {
                action = PlannedAction(object: action.object, kind: .replace,
                                       reason: "its dependency \(d.name) is replaced (dependsOn.\(d.name).restart: true)",
                                       changes: action.changes)
                replaced.insert(container.name)
            }
            actions.append(action)
        }
        actions += networks.late
        return Plan(project: spec.project, actions: actions, addresses: addresses)
    }

    func plan(_ c: Container, observed: ObservedContainer?, record: ContainerRecord?,
              context: AttachmentContext) -> PlannedAction {
        let ref = ObjectRef.container(c.name)
        guard let observed, observed.isRunning || record != nil else {
            return PlannedAction(object: ref, kind: .create, reason: "not running")
        }
        if !observed.isRunning, let record, record.process == nil {
            // An intent, as earlier berths wrote before each start (a state directory they
            // left): the start failed or was interrupted before a process was recorded.
            // Nothing ran, so nothing is restarted: it is made.
            return PlannedAction(object: ref, kind: .create, reason: "not running (an earlier start did not complete)")
        }
        guard let record else {
            // Running, but berth has no record of what it started: an apply was
            // interrupted before its first write, or the state directory was lost.
            return PlannedAction(object: ref, kind: .replace,
                                 reason: "running without a record of what berth applied")
        }
        let replacing = Self.replacementChanges(from: record.spec, to: c) + imageChange(c, record: record)
        if !replacing.isEmpty {
            let fields = replacing.map(\.field).joined(separator: ", ")
            return PlannedAction(object: ref, kind: .replace, reason: "\(fields) cannot change on a live container",
                                 changes: replacing)
        }
        var changes = limitChanges(c, record: record, observed: observed)
        changes += Self.metadataChanges(from: record.spec, to: c)
        if record.spec.dns != c.dns {
            changes.append(FieldChange(field: "dns", old: Render.list(record.spec.dns.map(\.description)),
                                       new: Render.list(c.dns.map(\.description))))
        }

        guard observed.isRunning else {
            let (kind, reason, killed) = restartDecision(c, observed: observed)
            return PlannedAction(object: ref, kind: kind == .leave && !changes.isEmpty ? .update : kind,
                                 reason: reason, changes: changes, drifted: killed)
        }
        if c.namespaces.contains(.uts), let seen = observed.hostname, seen != c.hostname {
            let drifted = seen != record.spec.hostname
            changes.append(FieldChange(
                field: "hostname", old: drifted ? seen : record.spec.hostname, new: c.hostname,
                drift: drifted ? Drift(applied: record.spec.hostname, observed: seen) : nil))
        }
        changes += attachmentChanges(c, observed: observed, context: context)
        changes += portChanges(c, observed: observed, record: record, context: context)
        if c.namespaces.contains(.network), let seen = observed.hosts {
            // Its neighbours changed (one added, removed or re-addressed): apply rewrites the file.
            if !context.hosts.matches(seen, for: c) {
                let want = context.hosts.hosts(for: c)
                changes.append(FieldChange(field: ContainerFiles.hostsField, old: ContainerFiles.entries(seen),
                                           new: ContainerFiles.entries(want)))
            }
        }
        if changes.isEmpty {
            return PlannedAction(object: ref, kind: .noop, reason: "running, matches the spec")
        }
        let drifted = changes.contains { $0.drift != nil }
        return PlannedAction(object: ref, kind: .update,
                             reason: drifted ? "changed outside berth" : "changed in the spec", changes: changes)
    }

    /// Stopped or dead: start again, or leave it, as the restart policy says.
    func restartDecision(_ c: Container, observed: ObservedContainer) -> (ActionKind, String, Bool) {
        let exit = observed.lastExit
        // berth init records how the command ended; no record means init itself died,
        // which only happens when something outside berth killed it.
        let killed = exit == nil || exit?.signal != nil
        let how = exit.map { "not running (\($0.summary))" } ?? "not running (berth init gone, no exit recorded)"
        if observed.health?.stoppedUnhealthyAt != nil {
            // berth stopped it: not drift, and a failure whatever the exit code.
            let why = "not running (stopped by berth after failed healthchecks)"
            return c.restart == .never ? (.leave, "\(why); restart: never leaves it stopped", false)
                : (.start, "\(why); restart: \(c.restart.rawValue)", false)
        }
        switch c.restart {
        case .always:
            return (.start, "\(how); restart: always", killed)
        case .onFailure:
            if let exit, exit.succeeded {
                return (.leave, "\(how); restart: on-failure leaves it stopped", false)
            }
            return (.start, "\(how); restart: on-failure", killed)
        case .never:
            return (.leave, "\(how); restart: never leaves it stopped", killed)
        }
    }

    /// Limits: compared in the kernel's terms, after the kernel's rounding, so that a
    /// value the kernel rounded is converged and not drift.
    func limitChanges(_ c: Container, record: ContainerRecord, observed: ObservedContainer) -> [FieldChange] {
        let desired = normalize(mapping.limits(for: c.resources))
        let applied = normalize(record.limits)
        guard let seen = observed.limits else {
            return [] // no cgroup: a create or start will write every limit anyway
        }
        var changes: [FieldChange] = []
        for field in LimitField.all {
            let want = field.value(desired), had = field.value(applied), now = field.value(seen)
            guard want != now else { continue }
            let specText = field.text(c.resources, desired)
            let recordText = field.text(record.spec.resources, applied)
            if had == now {
                changes.append(FieldChange(field: field.path, old: recordText, new: specText))
            } else {
                let observedText = field.kernelText(seen)
                changes.append(FieldChange(field: field.path, old: observedText, new: specText,
                                           drift: Drift(applied: recordText, observed: observedText)))
            }
        }
        return changes
    }

    /// The image a reference resolves to now, against the one the container was made from.
    func imageChange(_ c: Container, record: ContainerRecord) -> [FieldChange] {
        guard let source = c.image, record.spec.image == source else { return [] }
        let now = resolveImage(source)
        guard now != record.imageDigest else { return [] }
        var note: String?
        if case .registry(let reference) = source, reference.digest == nil, now != nil, record.imageDigest != nil {
            note = "tag \(reference) moved"  // registry: the spec names the same tag; the registry moved it
        }
        return [FieldChange(field: "image", old: Render.digest(record.imageDigest), new: now.map { Render.digest($0) } ?? "(imported by apply)",
                            forcesReplacement: true, note: note)]
    }

    /// Fields that cannot change on a live process.
    static func replacementChanges(from old: Container, to new: Container) -> [FieldChange] {
        var out: [FieldChange] = []
        func check<T: Equatable>(_ field: String, _ a: T, _ b: T, _ show: (T) -> String) {
            if a != b { out.append(FieldChange(field: field, old: show(a), new: show(b), forcesReplacement: true)) }
        }
        check("rootfs", old.rootfs, new.rootfs) { $0 }
        check("image", old.image, new.image) { $0?.description ?? "(none)" }  // images
        check("entrypoint", old.entrypoint, new.entrypoint) { $0.map(Render.list) ?? "(the image's)" }
        check("command", old.command, new.command, Render.list)
        check("env", old.env, new.env) { Render.list($0.map { "\($0.name)=\($0.value)" }) }
        check("workdir", old.workdir, new.workdir) { $0 }
        userChange(from: old, to: new).map { out.append($0) }
        check("namespaces", old.namespaces, new.namespaces) { Render.list($0.map(\.rawValue)) }
        check("userns", old.userns, new.userns) { Render.userns($0) }
        check("mounts", old.mounts, new.mounts) { Render.list($0.map(Render.mount)) }
        check("capabilities", old.capabilities, new.capabilities) { Render.capabilities($0) }
        check("readOnlyRootfs", old.readOnlyRootfs, new.readOnlyRootfs) { "\($0)" }
        out += hardeningChanges(from: old, to: new)
        // berth init rotates the log with the settings it started with.
        check("logging", old.logging, new.logging) { "maxSize \($0.maxSize.text), maxFiles \($0.maxFiles)" }
        // Joining or leaving a network needs a new network namespace; a new address does not.
        check("networks", old.networks.map(\.network), new.networks.map(\.network), Render.list)
        if !old.namespaces.contains(.uts) || !new.namespaces.contains(.uts) {
            check("hostname", old.hostname, new.hostname) { $0 }
        }
        return out
    }

    /// `user` compares by what it resolved to: `1000` and `1000:1000` that give the same ids are
    /// no change, `nobody` whose uid or groups changed in the root's files is one.
    static func userChange(from old: Container, to new: Container) -> FieldChange? {
        let had = old.identity ?? old.user.numericIdentity, want = new.identity ?? new.user.numericIdentity
        let differs = had != nil && want != nil ? had != want : old.user != new.user
        guard differs else { return nil }
        return FieldChange(field: "user", old: Render.user(old.user, had), new: Render.user(new.user, want),
                           forcesReplacement: true)
    }

    /// Fields berth alone reads (restart policy, stop signal and timeout): updated in the record.
    static func metadataChanges(from old: Container, to new: Container) -> [FieldChange] {
        var out: [FieldChange] = []
        if old.restart != new.restart {
            out.append(FieldChange(field: "restart", old: old.restart.rawValue, new: new.restart.rawValue))
        }
        if old.stopSignal != new.stopSignal {
            out.append(FieldChange(field: "stopSignal", old: old.stopSignal.name, new: new.stopSignal.name))
        }
        if old.stopTimeout != new.stopTimeout {
            out.append(FieldChange(field: "stopTimeout", old: old.stopTimeout.text, new: new.stopTimeout.text))
        }
        // berth runs the checks itself (reconcile, apply --wait): a new one applies at the next check.
        if old.healthcheck != new.healthcheck {
            out.append(FieldChange(field: "healthcheck", old: HealthText.render(old.healthcheck),
                                   new: HealthText.render(new.healthcheck)))
        }
        return out
    }
}

/// A cgroup limit as the plan compares and shows it.
struct LimitField: Sendable {
    var path: String
    /// The kernel-terms value, as a comparable string ("" = unset).
    var value: @Sendable (CgroupLimits) -> String
    /// As the user wrote it in the spec (falls back to the kernel rendering).
    var specText: @Sendable (Resources) -> String?
    /// A kernel value shown in the user's units.
    var kernelText: @Sendable (CgroupLimits) -> String?

    func text(_ r: Resources, _ l: CgroupLimits) -> String? { specText(r) ?? kernelText(l) }

    static let all: [LimitField] = [
        LimitField(path: "resources.cpus", value: { $0.cpuMillicores.map(String.init) ?? "" },
                   specText: { $0.cpus?.text }, kernelText: { $0.cpuMillicores.map(CPUAmount.format) }),
        LimitField(path: "resources.cpuWeight", value: { $0.cpuWeight.map(String.init) ?? "" },
                   specText: { $0.cpuWeight.map(String.init) }, kernelText: { $0.cpuWeight.map(String.init) }),
        LimitField(path: "resources.cpuset", value: { $0.cpuset ?? "" },
                   specText: { $0.cpuset?.text }, kernelText: { $0.cpuset }),
        LimitField(path: "resources.memory", value: { $0.memoryBytes.map(String.init) ?? "" },
                   specText: { $0.memory?.text }, kernelText: { $0.memoryBytes.map(ByteSize.format) }),
        LimitField(path: "resources.memorySwap", value: { $0.memorySwapBytes.map(String.init) ?? "" },
                   specText: { $0.memorySwap?.text }, kernelText: { $0.memorySwapBytes.map(ByteSize.format) }),
        LimitField(path: "resources.pids", value: { $0.pids.map(String.init) ?? "" },
                   specText: { $0.pids.map(String.init) }, kernelText: { $0.pids.map(String.init) }),
        LimitField(path: "resources.io", value: { Render.io($0.io) },
                   specText: { $0.io.isEmpty ? nil : $0.io.map(Render.ioLimit).joined(separator: "; ") },
                   kernelText: { $0.io.isEmpty ? nil : Render.io($0.io) }),
    ]
}
