import BerthKernel
import FoundationEssentials
import Glibc

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
    // operations
    /// Its networks and the addresses on its interface in each, as observed (running only).
    public var networks: [NetworkStatus] = []
    /// Processes the OOM killer killed in its cgroup during this run (nil: the cgroup is gone,
    /// or the kernel does not count them).
    public var oomKills: Int? = nil
    /// Not running, and the OOM killer struck in its cgroup during the run that ended
    /// (the command, or berth init itself: then there is no exit record to tell it).
    public var oomKilled: Bool = false
    /// How berth last stopped it (replace, unhealthy restart): in time, or killed after stopTimeout.
    public var lastStop: StopRecord? = nil

    /// One network of a container, as observed.
    public struct NetworkStatus: Sendable, Codable, Equatable {
        public var network: String
        /// e.g. `10.88.1.10/24`.
        public var addresses: [String]
        /// The bridge its host end is on.
        public var bridge: String?
    }
}

extension Engine {
    /// Every container of a project as observed now. Reads only; takes no lock.
    public func status(project: String) throws -> [ContainerStatus] {
        try status(project: project, records: try store.records(project))
    }

    /// The status from `records` read just before. Without a lock, a destroy
    /// may run between reading them and looking at the kernel: a container it removed meanwhile
    /// has neither a record nor a cgroup any more, and is left out rather than listed as
    /// exited or missing from the record read before.
    func status(project: String, records: ProjectRecords) throws -> [ContainerStatus] {
        let observed = try observer.observe(project: project, records: records)
        let gone = Set(observed.containers.keys.filter { name in
            observed.containers[name]?.process == nil && !cgroups.exists(Observer.containerCgroup(project, name))
                && !FileManager.default.fileExists(atPath: store.containerDirectory(project, name) + "/record.json")
        })
        return observed.containers.keys.filter { !gone.contains($0) }.sorted().map { name in
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
            let usage = seen.limits == nil ? nil : try? cgroups.usage(of: path)
            let oomKills = usage?.oomKills.map { $0 - (record?.oomKillsAtStart ?? 0) }
            var lastExit = seen.lastExit ?? record?.lastExit
            if let exit = seen.lastExit, exit.oomKilled == nil, exit.signal == SIGKILL, (oomKills ?? 0) > 0 {
                lastExit?.oomKilled = true
            }
            var status = ContainerStatus(
                project: project, name: name, state: state, pid: seen.process?.pid, uptimeSeconds: uptime,
                restarts: record?.restarts ?? 0, lastExit: lastExit,
                limits: seen.limits, usage: usage,
                restartPolicy: record?.spec.restart.rawValue,
                nextStartAt: seen.isRunning ? nil : record?.nextStartAt,
                health: record?.spec.healthcheck == nil ? nil : (seen.health ?? seen.process.map { HealthRecord(run: $0) }),
                image: record?.spec.image?.description, imageDigest: record?.imageDigest,
                root: record.map { $0.spec.image == nil ? "rootfs" : ($0.imageRoot ?? .overlay).rawValue })
            status.networks = seen.attachments.keys.sorted().map { network in
                let a = seen.attachments[network]!
                return ContainerStatus.NetworkStatus(network: network, addresses: a.addresses, bridge: a.master)
            }
            status.oomKills = oomKills
            status.oomKilled = !seen.isRunning && ((oomKills ?? 0) > 0 || lastExit?.oomKilled == true)
            status.lastStop = record.flatMap { lastStop(project: project, name: name, record: $0) }
            return status
        }
    }

    /// Whether the OOM killer struck in the container's cgroup during its current run
    /// (its count is above the one recorded at the start); nil when it cannot be read.
    func oomKilledThisRun(project: String, name: String, record: ContainerRecord) -> Bool? {
        guard let kills = try? cgroups.usage(of: Observer.containerCgroup(project, name)).oomKills else { return nil }
        return kills > (record.oomKillsAtStart ?? 0)
    }

    /// The latest of the record's stop (replace) and the health monitor's (unhealthy restart).
    func lastStop(project: String, name: String, record: ContainerRecord) -> StopRecord? {
        let health = HealthRecord.read(stateDir: store.containerDirectory(project, name))
        let byMonitor = health?.run == record.process ? health?.stop : nil
        return [record.lastStop, byMonitor].compactMap { $0 }.max { $0.at < $1.at }
    }

    /// Projects berth knows of: by cgroup or by record.
    public func projects() -> [String] {
        Array(Set(observer.projects()).union(store.projects())).sorted()
    }
}
