import BerthKernel

/// What the kernel shows of a project now, read by ``Observer``.
public struct ObservedState: Sendable, Equatable {
    public var project: String
    /// Containers found under the project's cgroup, by name.
    public var containers: [String: ObservedContainer]

    public init(project: String, containers: [String: ObservedContainer] = [:]) {
        self.project = project
        self.containers = containers
    }
}

/// One container as the kernel shows it.
public struct ObservedContainer: Sendable, Equatable {
    public var name: String
    /// berth init of the container, when it runs (pid and start time, so a reused pid is never mistaken).
    public var process: ProcessIdentity?
    /// Limits read back from the cgroup files; nil when the cgroup is missing.
    public var limits: CgroupLimits?
    /// Read inside the container's UTS namespace; nil when not running or not readable.
    public var hostname: String?
    /// How the command last ended, as berth init recorded it.
    public var lastExit: ExitRecord?

    public init(name: String, process: ProcessIdentity? = nil, limits: CgroupLimits? = nil,
                hostname: String? = nil, lastExit: ExitRecord? = nil) {
        self.name = name
        self.process = process
        self.limits = limits
        self.hostname = hostname
        self.lastExit = lastExit
    }

    public var isRunning: Bool { process != nil }
}
