import BerthKernel
import BerthSpec
import FoundationEssentials
import Glibc

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
        guard let at = s.ranges(of: " at ").last else { return s }
        return String(s[..<at.lowerBound])
    }
}

extension Engine {
    /// The containers `report` started (created, started again, replaced) whose command
    /// has ended, as berth init recorded it. An OOM kill is named (the cgroup's count).
    ///
    /// With `settle` (seconds), each of them is watched until it has run that long, counted
    /// from its own start: a command that ends a moment after the apply (a config it cannot
    /// read, a port it cannot bind) is reported as well. Containers started early in a long
    /// apply have settled by its end, so only the last ones are waited for. 0 looks once.
    public func exitedDuringApply(_ report: ApplyReport, spec: Spec, settle: Double = 0,
                                  poll: Double = 0.02) throws -> [ExitedDuringApply] {
        let started = Set(report.done.filter {
            $0.object.kind == .container && [.create, .start, .replace].contains($0.kind)
        }.map(\.object.name))
        guard !started.isEmpty else { return [] }
        let records = try store.records(spec.project)
        var out: [ExitedDuringApply] = []
        var watching = spec.containers.filter { started.contains($0.name) }
        while !watching.isEmpty {
            let now = Date().timeIntervalSince1970
            var still: [Container] = []
            for c in watching {
                let record = records.containers[c.name]
                // Liveness before the exit record: berth init writes the record before it
                // exits, so a process seen gone here has left its record for the next line.
                let alive = record?.process?.isAlive ?? false
                if var exit = try observer.observeExit(project: spec.project, name: c.name) {
                    if let record, exit.signal == SIGKILL {
                        exit.oomKilled = oomKilledThisRun(project: spec.project, name: c.name, record: record)
                    }
                    out.append(ExitedDuringApply(container: c.name, exit: exit, restart: c.restart))
                } else if alive, let began = record?.startedAt, now < began + settle {
                    still.append(c)
                }
            }
            watching = still
            if !watching.isEmpty { usleep(useconds_t(poll * 1_000_000)) }
        }
        let order = Dictionary(uniqueKeysWithValues: spec.containers.enumerated().map { ($1.name, $0) })
        return out.sorted { order[$0.container, default: 0] < order[$1.container, default: 0] }
    }
}
