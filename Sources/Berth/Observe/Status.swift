import BerthKernel
import Foundation

/// A container as `berth status` shows it: observed from the kernel, with berth's records.
public struct ContainerStatus: Sendable, Codable, Equatable {
    public var project: String
    public var name: String
    /// running, exited, stopped (no process and no exit recorded), or missing (no cgroup, no process).
    public var state: String
    public var pid: Int32?
    /// Seconds since the container's init started.
    public var uptimeSeconds: Double?
    public var restarts: Int
    public var lastExit: ExitRecord?
    public var limits: CgroupLimits?
    public var usage: CgroupUsage?
    public var restartPolicy: String?
    /// When a stopped container's next start is due (seconds since the epoch), while a
    /// reconciler backs off its restarts.
    public var nextStartAt: Double?
    // operations
    /// starting, healthy or unhealthy, with the last results; nil without a healthcheck.
    public var health: HealthRecord?
    // images
    /// The `image:` as written (resolved), and the manifest digest the container was made from.
    public var image: String? = nil
    public var imageDigest: String? = nil
    /// How its root is made: `overlay` (from its image) or `rootfs` (a directory).
    public var root: String? = nil
}

extension Engine {
    /// Every container of a project as observed now. Reads only; takes no lock.
    public func status(project: String) throws -> [ContainerStatus] {
        let records = try store.records(project)
        let observed = try observer.observe(project: project, records: records)
        return observed.containers.keys.sorted().map { name in
            let seen = observed.containers[name]!
            let record = records.containers[name]
            let path = Observer.containerCgroup(project, name)
            let state: String
            if seen.isRunning {
                state = "running"
            } else if seen.lastExit != nil {
                state = "exited"
            } else {
                state = seen.limits == nil ? "missing" : "stopped"
            }
            var uptime: Double?
            if seen.isRunning, let started = record?.startedAt {
                uptime = max(0, Date().timeIntervalSince1970 - started)
            }
            return ContainerStatus(
                project: project, name: name, state: state, pid: seen.process?.pid, uptimeSeconds: uptime,
                restarts: record?.restarts ?? 0, lastExit: seen.lastExit ?? record?.lastExit,
                limits: seen.limits, usage: seen.limits == nil ? nil : try? cgroups.usage(of: path),
                restartPolicy: record?.spec.restart.rawValue,
                nextStartAt: seen.isRunning ? nil : record?.nextStartAt,
                health: record?.spec.healthcheck == nil ? nil : (seen.health ?? seen.process.map { HealthRecord(run: $0) }),
                image: record?.spec.image?.description, imageDigest: record?.imageDigest,
                root: record.map { $0.spec.image == nil ? "rootfs" : ($0.imageRoot ?? .overlay).rawValue })
        }
    }

    /// Projects berth knows of: by cgroup or by record.
    public func projects() -> [String] {
        Array(Set(observer.projects()).union(store.projects())).sorted()
    }
}
