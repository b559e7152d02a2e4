// The healthcheck row of `make bench` (issue 14): one check exec'd into a running container.
//
//     berth-bench health --state DIR --spec PATH --container NAME --runs N --berth PATH
import Berth
import BerthKernel
import FoundationEssentials
import Glibc

/// One healthcheck, as `berth reconcile` runs it: `HealthChecker.check`, the engine's own
/// function (the container's exec config from its record, berth-init spawned as the relay into the
/// container's namespaces and cgroup, the check's output read, the relay reaped, the result
/// written to the container's health.json), timed from the call to its return. Each check
/// must pass; the container must be running already (applied by the harness).
func healthProbe(_ o: [String: String]) throws {
    let runs = Int(try required(o, "runs")) ?? 0
    let spec = try loadSpec(try required(o, "spec"))
    let name = try required(o, "container")
    guard let c = spec.containers.first(where: { $0.name == name }), c.healthcheck != nil else {
        throw Usage(description: "the spec has no container \(name) with a healthcheck")
    }
    // The relay is berth-init, beside berth, as for the reconciler.
    let engine = try Engine.host(stateDirectory: try required(o, "state"),
                                 executable: InitExecutable.beside(executable: try required(o, "berth")))
    guard let record = try engine.store.records(spec.project).containers[name], let run = record.process,
          let started = record.startedAt, run.isAlive else {
        throw Usage(description: "\(spec.project)/\(name) is not running")
    }
    let checker = HealthChecker(engine: engine)
    var samples: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<runs {
        let start = clock.now
        let health = try checker.check(project: spec.project, container: c, run: run, startedAt: started)
        samples.append(milliseconds(clock.now - start))
        guard let last = health.log.last, last.exitCode == 0 else {
            throw Usage(description: "the check of \(name) did not pass: \(String(describing: health.log.last))")
        }
    }
    try emit(["samples_ms": .samples(samples)])
}
