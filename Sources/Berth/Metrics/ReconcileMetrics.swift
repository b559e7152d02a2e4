import FoundationEssentials
import Prometheus

/// What `berth reconcile --metrics-address` serves: the reconciler's own figures, fed by
/// the loop through three calls (a pass ended, a step was applied, an error was logged),
/// and each container's figures, read from the kernel when Prometheus scrapes.
public final class ReconcileMetrics: Sendable {
    let project: String
    let registry = PrometheusCollectorRegistry()
    let passes: Counter
    let repairs: Counter
    let errors: Counter
    let passDuration: DurationHistogram

    public init(project: String) {
        self.project = project
        let labels = [("project", project)]
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "berth", subsystem: "reconciler", metricName: metric, unitName: unit, helpText: help)
        }
        passes = registry.makeCounter(descriptor: name("passes", "total", "Passes of the reconciler (observe, plan, apply if needed)."),
                                      labels: labels)
        repairs = registry.makeCounter(descriptor: name("repairs", "total", "Steps the reconciler applied (created, started again, updated, replaced, destroyed)."),
                                       labels: labels)
        errors = registry.makeCounter(descriptor: name("errors", "total", "Passes or applies of the reconciler that failed."),
                                      labels: labels)
        passDuration = registry.makeDurationHistogram(
            descriptor: name("pass_duration", "seconds", "How long each pass took."), labels: labels,
            buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
                      .milliseconds(500), .seconds(1), .seconds(5), .seconds(30)])
    }

    /// A pass ended after `duration`.
    public func passed(_ duration: Duration) {
        passes.increment()
        passDuration.record(duration)
    }

    /// A step of an apply was done.
    public func repaired() { repairs.increment() }

    /// A pass or an apply failed.
    public func failed() { errors.increment() }

    /// The whole exposition: the reconciler's figures, then each container's, as observed now.
    public func render(engine: Engine) -> [UInt8] {
        var out = registry.emitToBuffer()
        out += ContainerMetrics.render(engine: engine, project: project)
        return out
    }
}

/// Each container's figures, in a registry made for one scrape: the values are the
/// kernel's (cgroup counters, berth's records), not counted by berth.
enum ContainerMetrics {
    static func render(engine: Engine, project: String) -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "berth", subsystem: "container", metricName: metric, unitName: unit, helpText: help)
        }
        let statuses: [ContainerStatus]
        do {
            statuses = try engine.status(project: project)
        } catch {
            // A failed observation is said as such, never as "no containers".
            registry.makeGauge(descriptor: name("observation_failed", "", "1 when the containers could not be observed for this scrape."),
                               labels: [("project", project)]).set(Double(1))
            return registry.emitToBuffer()
        }
        for s in statuses {
            let labels = [("project", project), ("container", s.name)]
            registry.makeGauge(descriptor: name("up", "", "1 when the container's init runs."), labels: labels)
                .set(s.state == "running" ? Double(1) : Double(0))
            registry.makeCounter(descriptor: name("restarts", "total", "Times berth started the container again."), labels: labels)
                .increment(by: Int64(s.restarts))
            if let usage = s.usage {
                if let nanos = usage.cpuUsageNanos {
                    registry.makeCounter(descriptor: name("cpu", "seconds_total", "CPU time of the container's cgroup."), labels: labels)
                        .increment(by: Double(nanos) / 1e9)
                }
                if let bytes = usage.memoryCurrent {
                    registry.makeGauge(descriptor: name("memory", "bytes", "Memory the container's cgroup uses now."), labels: labels)
                        .set(Double(bytes))
                }
                if let bytes = usage.memoryPeak {
                    registry.makeGauge(descriptor: name("memory_peak", "bytes", "The most memory the container's cgroup used."), labels: labels)
                        .set(Double(bytes))
                }
                if let pids = usage.pidsCurrent {
                    registry.makeGauge(descriptor: name("pids", "", "Processes in the container's cgroup."), labels: labels)
                        .set(Int64(pids))
                }
            }
            if let kills = s.oomKills {
                registry.makeCounter(descriptor: name("oom_kills", "total", "Processes the OOM killer killed in the container during its current run."),
                                     labels: labels).increment(by: Int64(max(0, kills)))
            }
            if let health = s.health {
                // One series per state, 1 for the current one (the usual form of an enum).
                for state in ["starting", "healthy", "unhealthy"] {
                    registry.makeGauge(descriptor: name("health", "", "1 for the container's current health state."),
                                       labels: labels + [("status", state)])
                        .set(health.status.rawValue == state ? Double(1) : Double(0))
                }
            }
        }
        return registry.emitToBuffer()
    }
}
