import BerthKernel
import BerthSpec
import FoundationEssentials
import Glibc

/// A dependency's condition that did not come true.
public struct DependencyError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        /// Not within the wait timeout (seconds).
        case timedOut(seconds: Double)
        /// A job that was to complete exited otherwise.
        case jobFailed(ProcessExitStatus)
        /// It stopped before the condition came true (healthy, or started).
        case exited
        /// `healthy` of a container from an image whose config has no Healthcheck either.
        case noHealthcheck
    }

    /// The container that waited.
    public var dependent: String
    public var dependency: String
    public var condition: Dependency.Condition
    public var reason: Reason

    public var description: String {
        let what = "\(dependent) depends on \(dependency) being \(condition.rawValue)"
        switch reason {
        case .timedOut(let seconds):
            return "\(what), which did not come true within \(Reconciler.format(seconds)) (--wait-timeout)"
        case .jobFailed(let status):
            return "\(what), but \(dependency) ended with \(status.description): \(dependent) is not started"
        case .exited:
            return "\(what), but \(dependency) stopped first"
        case .noHealthcheck:
            return "\(what), but neither its spec nor its image has a healthcheck: add `healthcheck:` to \(dependency), or use condition: started"
        }
    }
}

extension Applier {
    /// Waits until every dependency of `c` is as its `dependsOn` says (started, healthy,
    /// completed), running the healthchecks of those that must be healthy; throws
    /// ``DependencyError`` naming the container and the condition that did not come true.
    func waitForDependencies(of c: Container, spec: Spec) throws {
        guard !c.dependsOn.isEmpty else { return }
        let deadline = Date().timeIntervalSince1970 + waitTimeout
        let checker = HealthChecker(engine: engine)
        for d in c.dependsOn {
            guard let target = spec.container(named: d.name) else { continue }
            func fail(_ reason: DependencyError.Reason) -> DependencyError {
                DependencyError(dependent: c.name, dependency: d.name, condition: d.condition, reason: reason)
            }
            waiting: while true {
                let now = Date().timeIntervalSince1970
                let record = try engine.store.records(spec.project).containers[d.name]
                let run = record?.process.flatMap { $0.isAlive ? $0 : nil }
                let exit = try engine.observer.observeExit(project: spec.project, name: d.name)
                switch d.condition {
                case .started:
                    if run != nil || exit != nil { break waiting }
                case .completed:
                    if let exit {
                        guard exit.status == .exited(0) else { throw fail(.jobFailed(exit.status)) }
                        break waiting
                    }
                case .healthy:
                    guard target.healthcheck != nil else { throw fail(.noHealthcheck) }
                    if let run, let check = target.healthcheck, let started = record?.startedAt {
                        var health = checker.record(project: spec.project, name: d.name, run: run)
                        if health.status == .healthy { break waiting }
                        if HealthChecker.nextDue(health, check: check, startedAt: started) <= now {
                            health = try checker.check(project: spec.project, container: target, run: run, startedAt: started)
                            if health.status == .healthy { break waiting }
                        }
                    } else if exit != nil {
                        throw fail(.exited)
                    }
                }
                guard now < deadline else { throw fail(.timedOut(seconds: waitTimeout)) }
                usleep(50_000)
            }
        }
    }
}
