import BerthKernel
import Foundation
import Logging

/// `berth reconcile`: observe, plan and apply in a loop, waking at once when a
/// container's process exits, when the spec file changes, or on a signal.
///
/// The project's lock is held only while applying, so `plan`, `status` and a
/// manual `apply` work while it runs. A second reconciler of the same project is
/// refused by a lock of its own, held for the reconciler's whole life.
public final class Reconciler: @unchecked Sendable {
    public let engine: Engine
    public let specPath: String
    public private(set) var spec: Spec
    public let interval: Double
    let logger: Logger
    let notifier: SystemdNotifier
    let events = EventWaiter()
    let clock: @Sendable () -> Double
    /// When the reconciler first saw each container dead without an exit time.
    var deadSince: [String: Double] = [:]
    /// Containers whose backoff was already logged, to log it once per death.
    var announcedBackoff: Set<String> = []
    private var stopping = false

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
    }

    /// Runs until SIGTERM or SIGINT; the containers keep running after it returns.
    public func run() throws {
        let guardLock = try Self.acquireReconcilerLock(store: engine.store, project: spec.project)
        defer { guardLock.release() }
        SignalPipe.shared.install([SIGTERM, SIGINT, SIGHUP])
        if specPath != "-" { try events.watch(file: specPath) }
        logger.info("reconciler started", metadata: ["project": "\(spec.project)", "interval": "\(interval)s"])
        var first = true
        while !stopping {
            let due = pass()
            if first {
                notifier.notify("READY=1\nSTATUS=reconciling \(spec.project)")
                first = false
            }
            notifier.watchdog()
            var wait = interval
            if let due { wait = max(0, min(wait, due - clock())) }
            if let ping = notifier.watchdogInterval { wait = min(wait, ping) }
            handle(events.wait(timeout: wait))
        }
        notifier.notify("STOPPING=1")
        logger.info("reconciler stopped; containers keep running", metadata: ["project": "\(spec.project)"])
    }

    func handle(_ reasons: [WakeReason]) {
        for reason in reasons {
            switch reason {
            case .signal(SIGHUP):
                logger.info("SIGHUP: re-reading the spec", metadata: ["file": "\(specPath)"])
                reloadSpec()
            case .signal:
                stopping = true
            case .fileChanged:
                reloadSpec()
            case .processExited(let pid):
                logger.debug("process exited", metadata: ["pid": "\(pid)"])
            case .timeout:
                break
            }
        }
        reapChildren()
    }

    /// Containers started by this process are its children: reap them so that they
    /// do not stay as zombies (their exit status is in berth init's record).
    func reapChildren() {
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
    }

    func reloadSpec() {
        guard specPath != "-" else { return }
        switch SpecLoader.load(path: specPath) {
        case .success(let new):
            guard new.project == spec.project else {
                logger.error("the spec now names project \(new.project); the reconciler keeps \(spec.project)",
                             metadata: ["file": "\(specPath)"])
                return
            }
            if new != spec { logger.info("spec changed", metadata: ["file": "\(specPath)"]) }
            spec = new
        case .failure(let error):
            logger.error("the changed spec is invalid; the last valid one stays in force",
                         metadata: ["file": "\(specPath)", "diagnostics": "\(error)"])
        }
    }

    /// One observe-plan-apply pass. Returns when the next backed-off restart is due.
    @discardableResult
    public func pass() -> Double? {
        do {
            let first = try engine.plan(spec)
            guard first.plan.hasChanges else {
                watchProcesses(first.observed)
                return nil
            }
            let lock = try ProjectLock.acquire(store: engine.store, project: spec.project, command: "reconcile",
                                               timeout: max(interval, 30)) { [logger] in logger.info("\($0)") }
            defer { lock.release() }
            // Another apply may have run while we waited: plan again under the lock.
            var (plan, observed, records) = try engine.plan(spec)
            let (ready, due) = holdBackedOff(plan, records: records, observed: observed)
            plan = ready
            let logger = self.logger
            do {
                _ = try engine.apply(spec, plan: plan, records: records) { step in
                    var metadata = Self.metadata(for: step.action)
                    metadata["ms"] = "\(step.milliseconds)"
                    logger.notice("\(step.action.kind.rawValue) \(step.action.object.kind.rawValue) \(step.action.object.name): \(step.summary)",
                                  metadata: metadata)
                }
            } catch {
                logger.error("apply failed", metadata: ["error": "\(error)"])
            }
            records = try engine.store.records(spec.project)
            watchProcesses(try engine.observer.observe(project: spec.project, records: records))
            return due
        } catch {
            logger.error("pass failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    static func metadata(for action: PlannedAction) -> Logger.Metadata {
        var m: Logger.Metadata = ["reason": "\(action.reason)"]
        if action.drifted { m["drift"] = "true" }
        for change in action.changes {
            m[change.field] = "\(change.old ?? "(unset)") -> \(change.new ?? "(unset)")"
        }
        return m
    }

    /// Removes start actions whose backoff has not passed yet; returns the earliest due time.
    func holdBackedOff(_ plan: Plan, records: ProjectRecords, observed: ObservedState) -> (Plan, Double?) {
        var kept: [PlannedAction] = []
        var earliest: Double?
        let now = clock()
        for action in plan.actions {
            let name = action.object.name
            guard action.kind == .start, let record = records.containers[name] else {
                kept.append(action)
                continue
            }
            let died = observed.containers[name]?.lastExit?.finishedAt ?? deadSince[name] ?? now
            if observed.containers[name]?.lastExit == nil, deadSince[name] == nil { deadSince[name] = now }
            let ran = record.startedAt.map { died - $0 }
            let failures = RestartBackoff.failures(previous: record.failures, ranFor: ran)
            let due = died + RestartBackoff.delay(failures: failures)
            if due <= now {
                kept.append(action)
                deadSince[name] = nil
                announcedBackoff.remove(name)
            } else {
                earliest = min(earliest ?? due, due)
                if !announcedBackoff.contains(name) {
                    announcedBackoff.insert(name)
                    logger.notice("backing off container \(name)", metadata: [
                        "reason": "\(action.reason)", "restarts": "\(record.restarts)",
                        "next attempt in": "\(Int((due - now).rounded(.up)))s"])
                    var r = record
                    r.nextStartAt = due
                    try? engine.store.write(r, project: spec.project)
                }
            }
        }
        return (Plan(project: plan.project, actions: kept), earliest)
    }

    func watchProcesses(_ observed: ObservedState) {
        events.watch(processes: observed.containers.values.compactMap(\.process))
    }

    /// A lock held for the reconciler's life: a second reconciler of the project is refused.
    static func acquireReconcilerLock(store: StateStore, project: String) throws -> ProjectLock {
        guard let lock = try ProjectLock.tryAcquire(store: store, project: project, command: "reconcile",
                                                    name: "reconciler.lock") else {
            let holder = ProjectLock.holderDescription("\(store.projectDirectory(project))/reconciler.lock")
            throw StateError("reconcile \(project)", "another reconciler is running for this project: \(holder)")
        }
        return lock
    }
}
