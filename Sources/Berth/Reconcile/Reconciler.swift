import BerthKernel
import FoundationEssentials
import Glibc
import Logging

/// `berth reconcile`: observe, plan and apply in a loop, waking at once when a
/// container's process exits, when the spec file changes, or on a signal.
///
/// The project's lock is held only while applying, so `plan`, `status` and a
/// manual `apply` work while it runs. A second reconciler of the same project is
/// refused by a lock of its own, held for the reconciler's whole life.
///
/// Each pass observes what events cannot tell and what they said changed (see
/// ``ObservationCache``), plans, and applies under the lock when the plan has changes.
/// Nothing is logged when a pass finds nothing to do; each change is one line.
public final class Reconciler: @unchecked Sendable {
    public let engine: Engine
    public let specPath: String
    public private(set) var spec: Spec
    public let interval: Double
    let logger: Logger
    let notifier: SystemdNotifier
    let events = EventWaiter()
    let cache: ObservationCache
    let recordCache: RecordCache
    let normalized: NormalizedLimits
    let planner: Planner
    let clock: @Sendable () -> Double
    // operations
    let health: HealthMonitor
    /// When the reconciler first saw each container dead without an exit time.
    var deadSince: [String: Double] = [:]
    /// Containers whose backoff was already logged, to log it once per death.
    var announcedBackoff: Set<String> = []
    /// The last error logged, so that one that repeats every pass is logged once.
    var lastError: String?
    var saidWaitingForLock = false
    /// The spec file as last read (identity, size, mtime), to notice changes the
    /// watcher cannot see (a symlink's target edited in another directory).
    var specStamp: FileStamp?
    private var stopping = false
    /// Set when something seen during a pass calls for another pass at once.
    private var passRequested = false
    private var passFailed = false
    /// What the last plan that had nothing to do was made of: the same again plans nothing.
    private var quiet: (records: Int, observed: Int, spec: Spec, lookups: Planner.Lookups)?
    /// Passes that found their inputs as the last no-op plan's and did not plan.
    private(set) var plansSkipped = 0
    // operations
    /// Fed with each pass, step and error when `--metrics-address` serves them.
    public var metrics: ReconcileMetrics?

    /// How long a pass waits for the project's lock before it tries again later (and
    /// looks at its signals meanwhile).
    static let lockWait = 1.0

    public init(engine: Engine, specPath: String, spec: Spec, interval: Double, logger: Logger,
                notifier: SystemdNotifier = .fromEnvironment(),
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.engine = engine
        self.specPath = specPath
        self.spec = spec
        self.interval = interval
        self.logger = logger
        self.notifier = notifier
        self.clock = clock
        health = HealthMonitor(engine: engine, logger: logger)
        normalized = NormalizedLimits(driver: engine.cgroups)
        let normalized = self.normalized
        // The engine's planner (it knows what the images resolve to: without that every
        // container from an image read as changed and was replaced on every pass).
        planner = engine.planner(normalize: { normalized.normalized($0) })
        recordCache = RecordCache(store: engine.store, project: spec.project)
        cache = ObservationCache(engine: engine, project: spec.project, events: events,
                                 resyncEvery: max(interval, Self.resyncEvery), onComplete: { normalized.forget() })
    }

    /// Everything is observed afresh at least this often (or every interval, if longer),
    /// whatever the events said.
    static let resyncEvery = 60.0

    /// Runs until SIGTERM or SIGINT; the containers keep running after it returns.
    public func run() throws {
        Concurrently.enabled.store(false, ordering: .relaxed)
        let guardLock = try Self.acquireReconcilerLock(store: engine.store, project: spec.project)
        defer { guardLock.release() }
        try SignalPipe.shared.listen(to: [SIGTERM, SIGINT, SIGHUP])
        // Without it, every pass reads every hostname again (nothing else tells).
        do { try events.watchHostnames() } catch { logger.notice("hostnames are read on every pass: \(error)") }
        if specPath != "-" {
            try events.watch(file: specPath)
            specStamp = FileStamp(path: specPath)
        }
        logger.info("reconciler started", metadata: ["project": "\(spec.project)", "interval": "\(Self.format(interval))",
                                                     "pid": "\(getpid())"])
        var passDue = clock()
        var pingDue = clock()
        var healthDue = Double.infinity
        var ready = false
        while !stopping {
            if clock() >= passDue {
                reloadSpec()
                passRequested = false
                let began = ContinuousClock.now
                let backoffDue = pass()
                metrics?.passed(ContinuousClock.now - began)
                // A process gone before it could be watched is stale: look again at once
                // (not after a failed pass, which leaves everything stale: that waits).
                if !passFailed, cache.hasStale { passRequested = true }
                passDue = passRequested ? clock() : min(clock() + interval, backoffDue ?? .infinity)
                // A pass may have started containers: their first checks are scheduled now.
                healthDue = clock()
                if !ready {
                    notifier.notify("READY=1\nSTATUS=reconciling \(spec.project) every \(Self.format(interval))")
                    ready = true
                }
            }
            // A stop signal taken during the pass: do not wait for anything else.
            if stopping { break }
            if let ping = notifier.watchdogInterval, clock() >= pingDue {
                notifier.watchdog()
                pingDue = clock() + ping
            }
            if clock() >= healthDue {
                // The records as the pass read them: re-read only when a record file changed
                // (and not looked at by a spec without healthchecks, as most are).
                healthDue = !spec.containers.contains(where: { $0.healthcheck != nil }) ? .infinity
                    : health.runDue(spec: spec, now: clock(), records: try? recordCache.read()) ?? .infinity
            }
            if stopping { break }
            var deadline = min(passDue, healthDue)
            if notifier.watchdogInterval != nil { deadline = min(deadline, pingDue) }
            if handle(events.wait(timeout: deadline - clock())) { passDue = clock() }
        }
        notifier.notify("STOPPING=1")
        logger.info("reconciler stopped; containers keep running", metadata: ["project": "\(spec.project)"])
    }

    /// Returns true when what happened calls for a pass now.
    func handle(_ reasons: [WakeReason]) -> Bool {
        var now = false
        for reason in reasons {
            switch reason {
            case .signal(SIGHUP):
                if specPath == "-" {
                    logger.notice("SIGHUP: the spec came from standard input; there is nothing to re-read")
                } else {
                    logger.info("SIGHUP: re-reading the spec", metadata: ["file": "\(specPath)"])
                    reloadSpec(evenIfUnchanged: true)
                }
                now = true
            case .signal:
                stopping = true
            case .fileChanged:
                if reloadSpec() { now = true }
            case .processExited(let pid):
                if let name = cache.container(withInit: pid) { cache.markStale(name) } else { cache.markAllStale() }
                now = true
            case .directoryChanged(let tag, let entry):
                // The project's own directory names the container cgroup made or removed
                // (its own files, written by hand, name no container).
                if !tag.isEmpty {
                    cache.markStale(tag)
                } else if let entry {
                    if Names.isValid(entry, maxLength: Names.containerMaxLength) { cache.markStale(entry) }
                } else {
                    cache.markAllStale()
                }
                now = true
            case .eventsLost:
                cache.markAllStale()
                now = true
            case .networkChanged(let change):
                if cache.networkChanged(change) { now = true }
            case .hostnameChanged:
                // Anyone's, in any namespace: a pass only if one of ours changed.
                if cache.hostnamesChanged() { now = true }
            case .timeout:
                break
            }
        }
        reapChildren()
        return now && !stopping
    }

    /// Containers are not children of berth (their init is detached), but anything
    /// else berth forks and does not wait for must not stay a zombie.
    func reapChildren() {
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
    }

    /// Reads the spec file again, unless it is the file last read (one save can raise
    /// several events). Returns true when the spec in force changed.
    @discardableResult
    func reloadSpec(evenIfUnchanged: Bool = false) -> Bool {
        guard specPath != "-" else { return false }
        let stamp = FileStamp(path: specPath)
        guard evenIfUnchanged || stamp != specStamp else { return false }
        specStamp = stamp
        switch SpecLoader.load(path: specPath) {
        case .success(let new):
            guard new.project == spec.project else {
                logger.error("the spec now names project \(new.project); the reconciler keeps \(spec.project)",
                             metadata: ["file": "\(specPath)"])
                return false
            }
            guard new != spec else { return false }
            logger.info("spec changed", metadata: ["file": "\(specPath)"])
            spec = new
            return true
        case .failure(let error):
            logger.error("the changed spec is invalid; the last valid one stays in force",
                         metadata: ["file": "\(specPath)", "diagnostics": "\(error)"])
            return false
        }
    }

    /// One observe-plan-apply pass. Returns when the next pass is due sooner than the
    /// interval: a backed-off restart, or a retry when another berth held the lock.
    @discardableResult
    public func pass() -> Double? {
        passFailed = false
        do {
            // images: a local source that is new or changed is imported before the plan.
            try engine.importImages(spec)
            // Once per spec read: containers already resolved are skipped.
            spec = try engine.resolve(spec)
            var records = try recordCache.read()
            var observed = try cache.observe(records: records, recordsGeneration: recordCache.generation, now: clock())
            // perf: a plan depends on the spec, the records, the observation and the
            // planner's lookups; when none changed since a plan that had nothing to do,
            // neither does this one. (At 1,000 containers at rest, planning was a sixth of
            // the reconciler's CPU.)
            let lookups = planner.lookups(for: spec)
            if let quiet, quiet.records == recordCache.generation, quiet.observed == cache.generation,
               quiet.lookups == lookups, quiet.spec == spec {
                plansSkipped += 1
                lastError = nil
                return nil
            }
            var plan = planner.plan(spec: spec, observed: observed, records: records)
            guard plan.hasChanges else {
                quiet = (recordCache.generation, cache.generation, spec, lookups)
                lastError = nil
                return nil
            }
            quiet = nil
            // Only restarts that wait for their backoff, already said: nothing to lock for.
            guard needsLock(plan, records: records, observed: observed) else {
                let now = clock()
                return plan.changes.compactMap { startDue($0, records: records, observed: observed, now: now) }.min()
            }
            guard let lock = try lockForApply() else { return clock() + 0.5 }
            defer { lock.release() }
            // Another berth may have changed something while we waited: look again, under the lock.
            if handle(events.wait(timeout: 0)) { passRequested = true }
            records = try recordCache.read()
            observed = try cache.observe(records: records, recordsGeneration: recordCache.generation, now: clock())
            plan = planner.plan(spec: spec, observed: observed, records: records)
            let (ready, due) = holdBackedOff(plan, records: records, observed: observed)
            guard ready.hasChanges else { return due }
            let logger = self.logger
            let notifier = self.notifier
            let metrics = self.metrics
            do {
                _ = try engine.apply(spec, plan: ready, records: records,
                                     shouldStop: { SignalPipe.shared.isPending([SIGTERM, SIGINT]) }) { step in
                    logger.notice("\(step.action.kind.rawValue) \(step.action.object.kind.rawValue) \(step.action.object.name): \(step.summary)",
                                  metadata: Self.metadata(for: step))
                    // A long apply (stop timeouts) is progress, not a hang.
                    notifier.watchdog()
                    metrics?.repaired()
                }
                lastError = nil
            } catch {
                report("apply failed", error)
            }
            for action in ready.changes {
                if action.object.kind == .container { cache.markStale(action.object.name) } else { cache.markAllStale() }
            }
            // Our own writes raised events: take them now, then look at the result, so that
            // only what happens after this look wakes the next pass.
            if handle(events.wait(timeout: 0)) { passRequested = true }
            records = try recordCache.read()
            _ = try cache.observe(records: records, recordsGeneration: recordCache.generation, now: clock())
            return due
        } catch {
            cache.markAllStale()
            passFailed = true
            report("pass failed", error)
            return nil
        }
    }

    /// Logs an error, once while it repeats pass after pass.
    func report(_ message: String, _ error: any Error) {
        metrics?.failed()  // every failure counts, also those logged once
        let text = "\(error)"
        guard text != lastError else { return }
        lastError = text
        logger.error("\(message)", metadata: ["project": "\(spec.project)", "error": "\(text)"])
    }

    /// The project's lock, or nil when another berth holds it longer than ``lockWait``
    /// (said once; the pass is tried again soon).
    func lockForApply() throws -> ProjectLock? {
        var holder: String?
        do {
            let lock = try engine.lock(project: spec.project, command: "reconcile", timeout: Self.lockWait) { holder = $0 }
            saidWaitingForLock = false
            return lock
        } catch let error as StateError {
            guard case .lockHeld = error.reason else { throw error }
            if !saidWaitingForLock {
                logger.notice("\(holder ?? error.description); trying again")
                saidWaitingForLock = true
            }
            return nil
        }
    }

    static func metadata(for step: ApplyStep) -> Logger.Metadata {
        let action = step.action
        var m: Logger.Metadata = [
            "action": "\(action.kind.rawValue)",
            action.object.kind.rawValue: "\(action.object.name)",
            "reason": "\(action.reason)",
            "ms": "\(step.milliseconds)",
        ]
        if action.drifted { m["drift"] = "true" }
        for change in action.changes {
            m[change.field] = "\(change.old ?? "(unset)") -> \(change.new ?? "(unset)")"
        }
        return m
    }

    /// When a start action may run: its container's backoff (see ``RestartBackoff``),
    /// counted from its death; nil for any other action (it may run now).
    func startDue(_ action: PlannedAction, records: ProjectRecords, observed: ObservedState, now: Double) -> Double? {
        let name = action.object.name
        guard action.object.kind == .container, action.kind == .start, let record = records.containers[name] else {
            return nil
        }
        // Decided earlier (by this reconciler or the one before it): keep to it.
        if let next = record.nextStartAt { return next }
        let exit = observed.containers[name]?.lastExit
        if exit == nil, deadSince[name] == nil { deadSince[name] = now }
        let died = exit?.finishedAt ?? deadSince[name] ?? now
        let ran = record.startedAt.map { died - $0 }
        let failures = RestartBackoff.failures(previous: record.failures, ranFor: ran)
        return died + RestartBackoff.delay(failures: failures)
    }

    /// True when the plan has something to do now, or a backoff to announce and record.
    func needsLock(_ plan: Plan, records: ProjectRecords, observed: ObservedState) -> Bool {
        let now = clock()
        return plan.changes.contains { action in
            guard let due = startDue(action, records: records, observed: observed, now: now) else { return true }
            return due <= now || !announcedBackoff.contains(action.object.name)
        }
    }

    /// Removes start actions whose backoff has not passed yet, saying so once per death
    /// and recording when the next start is due (for `berth status`); returns the
    /// earliest due time. Call with the project's lock held.
    func holdBackedOff(_ plan: Plan, records: ProjectRecords, observed: ObservedState) -> (Plan, Double?) {
        var kept: [PlannedAction] = []
        var earliest: Double?
        let now = clock()
        for action in plan.actions {
            let name = action.object.name
            guard let due = startDue(action, records: records, observed: observed, now: now),
                  let record = records.containers[name] else {
                kept.append(action)
                continue
            }
            if due <= now {
                kept.append(action)
                deadSince[name] = nil
                announcedBackoff.remove(name)
                continue
            }
            earliest = min(earliest ?? due, due)
            guard !announcedBackoff.contains(name) else { continue }
            announcedBackoff.insert(name)
            logger.notice("backing off container \(name)", metadata: [
                "container": "\(name)", "reason": "\(action.reason)", "restarts": "\(record.restarts)",
                "nextAttemptIn": "\(Self.format((due - now).rounded(.up)))"])
            guard record.nextStartAt != due else { continue }
            var r = record
            r.nextStartAt = due
            do {
                try engine.store.write(r, project: spec.project)
            } catch {
                report("record the next start of \(name)", error)
            }
        }
        return (Plan(project: plan.project, actions: kept, addresses: plan.addresses), earliest)
    }

    /// A lock held for the reconciler's life: a second reconciler of the project is refused.
    static func acquireReconcilerLock(store: StateStore, project: String) throws -> ProjectLock {
        guard let lock = try ProjectLock.tryAcquire(store: store, project: project, command: "reconcile",
                                                    name: "reconciler.lock") else {
            let holder = ProjectLock.holderDescription("\(store.projectDirectory(project))/reconciler.lock")
            throw StateError("reconcile \(project)", .reconcilerRunning(holder: holder))
        }
        return lock
    }

    /// "10s", "1.5s", "5m".
    static func format(_ seconds: Double) -> String {
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds) / 60)m" }
        if seconds == seconds.rounded() { return "\(Int(seconds))s" }
        return Printf.string("%.1fs", seconds)
    }
}

/// Enough of a file's stat to tell that it changed: identity, size, modification time.
struct FileStamp: Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: timespec

    /// nil when the file cannot be stat'ed (it is gone).
    init?(path: String) {
        self.init(at: AT_FDCWD, path)
    }

    /// The file at `path` relative to the open directory `directory`.
    init?(at directory: Int32, _ path: String) {
        var st = stat()
        guard fstatat(directory, path, &st, 0) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modified = st.st_mtim
    }

    static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.device == b.device && a.inode == b.inode && a.size == b.size
            && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
    }
}
