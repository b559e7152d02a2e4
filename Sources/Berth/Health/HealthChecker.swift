import BerthKernel
import BerthSpec
import FoundationEssentials
import Synchronization

/// Runs healthchecks inside containers (through the container's own berth init, see
/// ``ContainerRuntime/probe(endpoint:of:argv:timeout:)``, or for a container started
/// without that endpoint as `berth exec` does, in its cgroup) and keeps their state with
/// Docker's semantics: `starting` until a check passes, `unhealthy` after `retries`
/// failures in a row, failures in the start period not counted.
///
/// A checker keeps each container's record of the run it knows in memory: `health.json`
/// is read once per run, and written after every check.
public struct HealthChecker: Sendable {
    public var engine: Engine
    private let known = KnownRuns()

    public init(engine: Engine) {
        self.engine = engine
    }

    /// The state of a running container's checks (fresh for a new run).
    public func record(project: String, name: String, run: ProcessIdentity) -> HealthRecord {
        if let record = known.record(project, name, run: run) { return record }
        let dir = engine.store.containerDirectory(project, name)
        let record = HealthRecord.read(stateDir: dir).flatMap { $0.run == run ? $0 : nil } ?? HealthRecord(run: run)
        known.set(project, name, record)
        return record
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

    /// How much before its time a check may run, to join the checks that are due now: an
    /// eighth of its shorter interval, at most 250 ms. The checks run together end together,
    /// so their next ones are due together too: 100 containers checked every second take a
    /// handful of the monitor's wake-ups a second instead of one each (Docker's one timer
    /// per container runs each at its own time).
    public static func batchWindow(_ check: Healthcheck) -> Double {
        min(Double(min(check.interval.milliseconds, check.startInterval.milliseconds)) / 8_000, 0.25)
    }

    /// A check that is due: the container, its run, when that run started (seconds since the epoch).
    public typealias Due = (container: Container, run: ProcessIdentity, startedAt: Double)

    /// Runs one check and records its result; returns the new state.
    @discardableResult
    public func check(project: String, container c: Container, run: ProcessIdentity, startedAt: Double) throws
        -> HealthRecord
    {
        try check(project: project, [(c, run, startedAt)])[0].get()
    }

    /// Runs the checks side by side and records each one's result; the new states (or
    /// why a check could not run), in the order of `due`. Checks through the containers'
    /// endpoints are all asked first and their answers awaited together (one epoll set); those of
    /// containers without one go through exec relays, on up to one thread per CPU.
    public func check(project: String, _ due: [Due]) -> [Result<HealthRecord, any Error>] {
        var results = [Result<HealthRecord, any Error>?](repeating: nil, count: due.count)
        var asked: [(index: Int, request: HealthRequest, start: Double)] = []
        var throughExec: [Int] = []
        for (i, d) in due.enumerated() {
            guard let check = d.container.healthcheck else {
                results[i] = .success(HealthRecord(run: d.run))
                continue
            }
            do {
                let start = Date().timeIntervalSince1970
                if let request = try ContainerRuntime.ask(endpoint: engine.store.containerDirectory(project, d.container.name),
                                                          of: d.run, argv: check.test.argv, timeout: check.timeoutDuration) {
                    asked.append((i, request, start))
                } else {
                    throughExec.append(i)
                }
            } catch {
                results[i] = .failure(error)
            }
        }
        let answers = HealthRequest.answers(asked.map(\.request))
        for ((i, request, start), answer) in zip(asked, answers) {
            results[i] = Result {
                try record(project: project, due[i], probe: try answer.get(), start: start,
                           end: start + request.duration.fractionalSeconds)
            }
        }
        let fallbacks = Concurrently.results(throughExec) { i in
            let d = due[i]
            // No endpoint answered: the run may be gone, and its pid another process's.
            guard d.run.isAlive else {
                throw KernelError("healthcheck", d.container.name, errno: .noSuchProcess,
                                  detail: "the container's berth init is gone")
            }
            let start = Date().timeIntervalSince1970
            let probe = try probeThroughExec(project: project, d.container, run: d.run,
                                             argv: d.container.healthcheck?.test.argv ?? [],
                                             timeout: d.container.healthcheck?.timeoutDuration ?? .seconds(30))
            return try record(project: project, d, probe: probe, start: start, end: Date().timeIntervalSince1970)
        }
        for (i, result) in zip(throughExec, fallbacks) { results[i] = result }
        return results.map { $0! }
    }

    /// A check's result into the run's record (in memory and `health.json`); the new state.
    private func record(project: String, _ d: Due, probe: ProbeResult, start: Double, end: Double) throws -> HealthRecord {
        guard let check = d.container.healthcheck else { return HealthRecord(run: d.run) }
        var record = self.record(project: project, name: d.container.name, run: d.run)
        var exitCode: Int32? = nil
        if case .exited(let code) = probe.status { exitCode = code }
        record.log.append(HealthResult(start: start, end: end, exitCode: exitCode, timedOut: probe.timedOut,
                                       output: probe.timedOut ? "timed out after \(check.timeout.text)" : probe.output))
        record.log = Array(record.log.suffix(HealthRecord.keep))
        if probe.passed {
            record.status = .healthy
            record.failingStreak = 0
        } else if record.status == .starting && start < d.startedAt + Double(check.startPeriod.milliseconds) / 1000 {
            // In the start period a failure does not count.
        } else {
            record.failingStreak += 1
            if record.failingStreak >= check.retries { record.status = .unhealthy }
        }
        known.set(project, d.container.name, record)
        // perf: not durable (no fsync). A crash may leave the previous record, or an empty
        // file that reads as none (the run's checks then start again from `starting`);
        // while the host runs, berth status reads it whole either way.
        try record.write(stateDir: engine.store.containerDirectory(project, d.container.name), durable: false)
        return record
    }

    /// A container started by a berth without the endpoint: the check through an exec relay
    /// that joins the container, with its exec configuration worked out once per run.
    private func probeThroughExec(project: String, _ c: Container, run: ProcessIdentity, argv: [String],
                                  timeout: Duration) throws -> ProbeResult {
        let config: ExecConfig
        if let cached = known.execConfig(project, c.name, run: run) {
            config = cached
        } else {
            // As `berth exec` sees the container: its volumes, and its image's environment and user.
            var container = engine.mapping.config(for: c, project: project,
                                                  volumeDirectory: { engine.volumes.dataDirectory(project, $0) })
            if let saved = try engine.store.record(project, c.name) {
                container = engine.execConfig(container, record: saved)
            }
            config = ExecConfig(argv: [], like: container)
            known.setExecConfig(project, c.name, run: run, config)
        }
        var process = config
        process.argv = argv
        let path = Observer.containerCgroup(project, c.name)
        let cgroups = engine.cgroups
        let target = try cgroups.spawnTarget(path)
        defer { try? target?.close() }
        return try ContainerRuntime.probe(into: run, process, executable: engine.executable, timeout: timeout,
                                          cgroup: target) { pid in
            try cgroups.addProcess(pid, to: path)
        }
    }

    /// berth stopped the container for being unhealthy: recorded, so that its restart counts as after a failure.
    public func markStopped(project: String, name: String, _ record: HealthRecord) throws {
        var record = record
        record.stoppedUnhealthyAt = Date().timeIntervalSince1970
        known.set(project, name, record)
        try record.write(stateDir: engine.store.containerDirectory(project, name))
    }
}

/// What a ``HealthChecker`` knows of the runs it checked: each container's record and
/// (for the exec fallback) its exec configuration, valid for that run only.
private final class KnownRuns: Sendable {
    private let records = Mutex<[String: HealthRecord]>([:])
    private let configs = Mutex<[String: (ProcessIdentity, ExecConfig)]>([:])

    func record(_ project: String, _ name: String, run: ProcessIdentity) -> HealthRecord? {
        records.withLock { $0[project + "/" + name].flatMap { $0.run == run ? $0 : nil } }
    }

    func set(_ project: String, _ name: String, _ record: HealthRecord) {
        records.withLock { $0[project + "/" + name] = record }
    }

    func execConfig(_ project: String, _ name: String, run: ProcessIdentity) -> ExecConfig? {
        configs.withLock { $0[project + "/" + name].flatMap { $0.0 == run ? $0.1 : nil } }
    }

    func setExecConfig(_ project: String, _ name: String, run: ProcessIdentity, _ config: ExecConfig) {
        configs.withLock { $0[project + "/" + name] = (run, config) }
    }
}

extension Healthcheck {
    var timeoutDuration: Duration { .milliseconds(timeout.milliseconds) }
}
