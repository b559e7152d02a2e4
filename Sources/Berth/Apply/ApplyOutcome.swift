import BerthKernel
import BerthSpec
import Foundation

/// A container that apply started and whose command has already ended when apply
/// looks again at its end (or while `apply --wait` waits).
public struct ExitedDuringApply: Sendable, Equatable, CustomStringConvertible {
    public var container: String
    public var exit: ExitRecord
    public var restart: RestartPolicy

    /// The restart policy expects it: a `never` or `on-failure` container that exited 0
    /// (a one-shot job that completed). Anything else is an error of the apply.
    public var expected: Bool {
        restart != .always && exit.succeeded
    }

    /// "container migrate exited with code 3 during the apply (restart: never: it stays stopped)"
    public var description: String {
        let what = "container \(container) \(exit.summaryWithoutTime)"
        if expected { return "\(what): completed (restart: \(restart.rawValue))" }
        let then: String
        switch restart {
        case .always, .onFailure: then = "berth reconcile starts it again, with the backoff"
        case .never: then = "it stays stopped"
        }
        return "\(what) during the apply (restart: \(restart.rawValue): \(then))"
    }
}

extension ExitRecord {
    /// "exited with code 3", "killed by SIGKILL", without the clock.
    var summaryWithoutTime: String {
        let s = summary
        guard let at = s.range(of: " at ", options: .backwards) else { return s }
        return String(s[..<at.lowerBound])
    }
}

extension Engine {
    /// The containers `report` started (created, started again, replaced) whose command
    /// has already ended, as berth init recorded it. An OOM kill is named (the cgroup's count).
    public func exitedDuringApply(_ report: ApplyReport, spec: Spec) throws -> [ExitedDuringApply] {
        let started = Set(report.done.filter {
            $0.object.kind == .container && [.create, .start, .replace].contains($0.kind)
        }.map(\.object.name))
        guard !started.isEmpty else { return [] }
        let records = try store.records(spec.project)
        var out: [ExitedDuringApply] = []
        for c in spec.containers where started.contains(c.name) {
            guard var exit = try observer.observeExit(project: spec.project, name: c.name) else { continue }
            if let record = records.containers[c.name], exit.signal == SIGKILL {
                exit.oomKilled = oomKilledThisRun(project: spec.project, name: c.name, record: record)
            }
            out.append(ExitedDuringApply(container: c.name, exit: exit, restart: c.restart))
        }
        return out
    }
}
