import BerthKernel
import BerthSpec
import Foundation

/// Runs healthchecks inside containers (as `berth exec` does, in their cgroup) and
/// keeps their state with Docker's semantics: `starting` until a check passes,
/// `unhealthy` after `retries` failures in a row, failures in the start period not counted.
public struct HealthChecker: Sendable {
    public var engine: Engine

    public init(engine: Engine) {
        self.engine = engine
    }

    /// The state of a running container's checks (fresh for a new run).
    public func record(project: String, name: String, run: ProcessIdentity) -> HealthRecord {
        let dir = engine.store.containerDirectory(project, name)
        if let saved = HealthRecord.read(stateDir: dir), saved.run == run { return saved }
        return HealthRecord(run: run)
    }

    /// When the next check of this run is due (seconds since the epoch).
    public static func nextDue(_ record: HealthRecord, check: Healthcheck, startedAt: Double) -> Double {
        let last = record.log.last?.end ?? startedAt
        let inStartPeriod = last < startedAt + Double(check.startPeriod.milliseconds) / 1000
        let gap = record.status == .starting && inStartPeriod ? check.startInterval : check.interval
        if record.log.isEmpty && check.startPeriod.milliseconds == 0 {
            // No start period: the first check comes one interval (or start interval, if shorter) after the start.
            return startedAt + Double(min(check.interval.milliseconds, check.startInterval.milliseconds)) / 1000
        }
        return last + Double(gap.milliseconds) / 1000
    }

    /// Runs one check and records its result; returns the new state.
    @discardableResult
    public func check(project: String, container c: Container, run: ProcessIdentity, startedAt: Double) throws
        -> HealthRecord
    {
        guard let check = c.healthcheck else { return HealthRecord(run: run) }
        var record = self.record(project: project, name: c.name, run: run)
        // As `berth exec` sees the container: its volumes, and its image's environment and user.
        var config = engine.mapping.config(for: c, project: project,
                                           volumeDirectory: { engine.volumes.dataDirectory(project, $0) })
        // perf: this container's record only (the project's are N decodes, N checks a round).
        if let saved = try engine.store.record(project, c.name) {
            config = engine.execConfig(config, record: saved)
        }
        let path = Observer.containerCgroup(project, c.name)
        let cgroups = engine.cgroups
        let start = Date().timeIntervalSince1970
        let probe = try ContainerRuntime.probe(
            into: run, ExecConfig(argv: check.test.argv, like: config), executable: engine.executable,
            timeout: .milliseconds(check.timeout.milliseconds)
        ) { pid in try cgroups.addProcess(pid, to: path) }
        let end = Date().timeIntervalSince1970
        var exitCode: Int32? = nil
        if case .exited(let code) = probe.status { exitCode = code }
        record.log.append(HealthResult(start: start, end: end, exitCode: exitCode, timedOut: probe.timedOut,
                                       output: probe.timedOut ? "timed out after \(check.timeout.text)" : probe.output))
        record.log = Array(record.log.suffix(HealthRecord.keep))
        if probe.passed {
            record.status = .healthy
            record.failingStreak = 0
        } else if record.status == .starting && start < startedAt + Double(check.startPeriod.milliseconds) / 1000 {
            // In the start period a failure does not count.
        } else {
            record.failingStreak += 1
            if record.failingStreak >= check.retries { record.status = .unhealthy }
        }
        try record.write(stateDir: engine.store.containerDirectory(project, c.name))
        return record
    }

    /// berth stopped the container for being unhealthy: recorded, so that its restart counts as after a failure.
    public func markStopped(project: String, name: String, _ record: HealthRecord) throws {
        var record = record
        record.stoppedUnhealthyAt = Date().timeIntervalSince1970
        try record.write(stateDir: engine.store.containerDirectory(project, name))
    }
}
