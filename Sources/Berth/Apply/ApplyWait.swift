import BerthKernel
import BerthSpec
import FoundationEssentials
import Glibc

/// `apply --wait`: a container that did not become what it should.
public struct ReadinessError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was waited for.
    public enum Goal: String, Sendable, Equatable {
        /// Its process runs (no healthcheck).
        case running
        /// Its healthcheck passed.
        case healthy
    }

    public enum Reason: Sendable, Equatable {
        /// Not within the wait timeout (seconds).
        case timedOut(seconds: Double)
        /// Its command ended first (and the restart policy does not expect it).
        case exited(ExitRecord)
        /// `retries` checks in a row failed; the last one's result.
        case unhealthy(HealthResult?)
        /// It has no process and no exit record (berth init itself died).
        case gone
    }

    public var container: String
    public var goal: Goal
    public var reason: Reason

    public var description: String {
        let what = "container \(container) did not become \(goal.rawValue)"
        switch reason {
        case .timedOut(let seconds):
            return "\(what) within \(Reconciler.format(seconds)) (--wait-timeout)"
        case .exited(let exit):
            return "\(what): it \(exit.summaryWithoutTime)"
        case .unhealthy(let last):
            guard let last else { return "\(what): it is unhealthy" }
            let how = last.timedOut ? "timed out" : last.exitCode.map { "exited with code \($0)" } ?? "was killed"
            let output = last.output.split(whereSeparator: \.isNewline).first.map { ": \"\($0.prefix(120))\"" } ?? ""
            return "\(what): it is unhealthy, the last check \(how)\(output)"
        case .gone:
            return "\(what): its init is gone without an exit record"
        }
    }
}

/// Every container that did not become ready, all at once.
public struct ReadinessFailed: Error, CustomStringConvertible, Sendable {
    public var errors: [ReadinessError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

extension Engine {
    /// Waits until every container of the spec runs, or is healthy where it has a
    /// healthcheck (running its checks as they fall due, as `berth reconcile` would), or
    /// has completed where its restart policy expects that (`never`/`on-failure`, exit 0).
    /// Throws ``ReadinessFailed`` naming each container that did not, and why.
    ///
    /// With `settle` (seconds), a container without a healthcheck is ready once it has run
    /// that long (Kubernetes' minReadySeconds): one whose command ends a moment after it
    /// started is reported, not called ready.
    public func waitUntilReady(_ spec: Spec, timeout: Double, settle: Double = 0, poll: Double = 0.05,
                               progress: (String) -> Void = { _ in }) throws {
        let spec = try resolve(spec)
        let deadline = Date().timeIntervalSince1970 + timeout
        let checker = HealthChecker(engine: self)
        var pending = spec.containers
        var failures: [ReadinessError] = []
        while !pending.isEmpty {
            let records = try store.records(spec.project)
            let now = Date().timeIntervalSince1970
            var still: [Container] = []
            for c in pending {
                let goal: ReadinessError.Goal = c.healthcheck == nil ? .running : .healthy
                func fail(_ reason: ReadinessError.Reason) { failures.append(ReadinessError(container: c.name, goal: goal, reason: reason)) }
                let record = records.containers[c.name]
                let run = record?.process.flatMap { $0.isAlive ? $0 : nil }
                if let run, let record {
                    guard let check = c.healthcheck, let started = record.startedAt else {
                        // Running: ready, once it has run `settle` seconds.
                        if let started = record.startedAt, now < started + settle { still.append(c) }
                        continue
                    }
                    var health = checker.record(project: spec.project, name: c.name, run: run)
                    if health.status == .starting, HealthChecker.nextDue(health, check: check, startedAt: started) <= now {
                        do {
                            health = try checker.check(project: spec.project, container: c, run: run, startedAt: started)
                        } catch where !run.isAlive {
                            still.append(c)  // it ended while checked: look again
                            continue
                        }
                    }
                    switch health.status {
                    case .healthy:
                        progress("container \(c.name) is healthy")
                        continue
                    case .unhealthy:
                        fail(.unhealthy(health.log.last))
                        continue
                    case .starting:
                        break
                    }
                } else if var exit = try observer.observeExit(project: spec.project, name: c.name) {
                    if let record, exit.signal == SIGKILL {
                        exit.oomKilled = oomKilledThisRun(project: spec.project, name: c.name, record: record)
                    }
                    if c.restart != .always && exit.succeeded {
                        progress("container \(c.name) completed")
                    } else {
                        fail(.exited(exit))
                    }
                    continue
                } else if record?.process != nil {
                    fail(.gone)
                    continue
                }
                still.append(c)
            }
            pending = still
            guard !pending.isEmpty else { break }
            if now >= deadline {
                for c in pending {
                    failures.append(ReadinessError(container: c.name, goal: c.healthcheck == nil ? .running : .healthy,
                                                   reason: .timedOut(seconds: timeout)))
                }
                break
            }
            usleep(useconds_t(poll * 1_000_000))
        }
        guard failures.isEmpty else {
            throw ReadinessFailed(errors: failures.sorted { $0.container < $1.container })
        }
    }
}
