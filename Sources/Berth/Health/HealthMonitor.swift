import BerthKernel
import BerthSpec
import Dispatch
import FoundationEssentials
import Logging

/// The healthchecks of one project, as `berth reconcile` runs them: one timer for all
/// (the reconciler's own loop), no process per container but the check itself.
///
/// Due checks run side by side (asked of each container's berth init at once, their
/// answers awaited together, in one epoll set); the loop waits for them (each ends by its timeout).
/// A container that turns unhealthy with `onUnhealthy: restart` is stopped (stopSignal,
/// stopTimeout, then SIGKILL); the reconciler's next pass starts it again per `restart:`,
/// with the backoff.
final class HealthMonitor: @unchecked Sendable {
    let checker: HealthChecker
    let logger: Logger

    init(engine: Engine, logger: Logger) {
        checker = HealthChecker(engine: engine)
        self.logger = logger
    }

    /// Runs the checks that are due, with those due within their ``HealthChecker/batchWindow(_:)``;
    /// returns when the next one is (nil: none to run).
    func runDue(spec: Spec, now: Double, records known: ProjectRecords? = nil) -> Double? {
        // perf: the reconciler hands over its cached records (decoding them all is most of a pass).
        let records = known ?? (try? checker.engine.store.records(spec.project)) ?? ProjectRecords()
        var due: [(Container, ProcessIdentity, Double)] = []
        var next: Double? = nil
        for c in spec.containers {
            guard let check = c.healthcheck, let record = records.containers[c.name],
                  record.spec.healthcheck != nil, let run = record.process, let started = record.startedAt
            else { continue }
            let health = checker.record(project: spec.project, name: c.name, run: run)
            // Stopped for being unhealthy, not yet started again: nothing to check.
            if health.stoppedUnhealthyAt != nil { continue }
            let at = HealthChecker.nextDue(health, check: check, startedAt: started)
            if at <= now + HealthChecker.batchWindow(check) {
                // perf: no look in /proc here. A run that is gone does not answer on its
                // endpoint, and only then is it looked up (HealthChecker.check); every due
                // check's look was a seventh of the monitor's CPU at 100 checks a second.
                due.append((c, run, started))
            } else {
                next = min(next ?? at, at)
            }
        }
        guard !due.isEmpty else { return next }
        let results = checker.check(project: spec.project, due.map { (container: $0.0, run: $0.1, startedAt: $0.2) })
        for ((c, run, started), result) in zip(due, results) {
            switch result {
            case .success(let health):
                report(spec: spec, c, run: run, health)
                if health.stoppedUnhealthyAt == nil, let check = c.healthcheck {
                    let at = HealthChecker.nextDue(health, check: check, startedAt: started)
                    next = min(next ?? at, at)
                }
            case .failure(let error):
                // The container went away while it was checked, or exec failed: look again soon.
                if run.isAlive {
                    logger.warning("healthcheck of container \(c.name) could not run: \(error)")
                    let at = Date().timeIntervalSince1970 + Double(c.healthcheck?.interval.milliseconds ?? 30_000) / 1000
                    next = min(next ?? at, at)
                }
            }
        }
        return next
    }

    private func report(spec: Spec, _ c: Container, run: ProcessIdentity, _ health: HealthRecord) {
        guard let last = health.log.last else { return }
        let previous = health.log.count > 1 ? health.log[health.log.count - 2] : nil
        let passed = last.exitCode == 0
        if passed && (previous.map { $0.exitCode != 0 } ?? true) {
            logger.info("container \(c.name) is healthy", metadata: ["container": "\(c.name)", "health": "healthy"])
        }
        guard health.status == .unhealthy, let check = c.healthcheck else {
            if !passed {
                logger.notice("healthcheck of container \(c.name) failed (\(health.failingStreak) in a row)",
                              metadata: ["container": "\(c.name)", "output": "\(last.output.prefix(200))"])
            }
            return
        }
        logger.warning("container \(c.name) is unhealthy: \(health.failingStreak) checks failed in a row",
                       metadata: ["container": "\(c.name)", "health": "unhealthy", "output": "\(last.output.prefix(200))"])
        guard check.onUnhealthy == .restart else { return }
        do {
            try checker.markStopped(project: spec.project, name: c.name, health)
            let engine = checker.engine
            let stopped = try engine.stopInit(run, project: spec.project, name: c.name, spec: c, reason: .unhealthy)
            if let stopped {
                // In the health record (the monitor's own file; the container record is apply's, under its lock).
                var marked = health
                marked.stop = stopped
                try checker.markStopped(project: spec.project, name: c.name, marked)
            }
            logger.warning("container \(c.name) stopped for being unhealthy (\(stopped?.summary ?? "it had exited")); restart: \(c.restart.rawValue)",
                           metadata: ["container": "\(c.name)"])
        } catch {
            logger.error("container \(c.name): stop after failed healthchecks failed: \(error)")
        }
    }
}
