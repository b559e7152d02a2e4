import BerthKernel

/// What the kernel shows of a project now, read by ``Observer``.
public struct ObservedState: Sendable, Equatable {
    public var project: String
    /// Containers found under the project's cgroup, by name.
    public var containers: [String: ObservedContainer]
    /// The project's networks (those of the spec and those berth recorded), by name.
    public var networks: [String: ObservedNetwork]
    // volumes
    /// The project's named volumes that exist on disk.
    public var volumes: Set<String>

    public init(project: String, containers: [String: ObservedContainer] = [:],
                networks: [String: ObservedNetwork] = [:], volumes: Set<String> = []) {
        self.project = project
        self.containers = containers
        self.networks = networks
        self.volumes = volumes
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
    /// Its links to networks, by network name (read when it runs).
    public var attachments: [String: ObservedAttachment]
    // operations
    /// What the healthchecks of its current (or last) run found; nil without checks.
    public var health: HealthRecord?
    /// Its published ports in berth's table (networks); `edited` counts its rules changed by hand.
    public var ports = ObservedPorts()
    /// berth's /etc/hosts of the container, as it is now (read when it runs in a network
    /// namespace of its own; nil when there is no such file).
    public var hosts: String?
    // perf
    /// The id the host's network namespace gives the container's (read with its
    /// attachments): the container's rtnetlink events carry it.
    public var networkNamespaceID: Int32?

    public init(name: String, process: ProcessIdentity? = nil, limits: CgroupLimits? = nil,
                hostname: String? = nil, lastExit: ExitRecord? = nil, attachments: [String: ObservedAttachment] = [:]) {
        self.attachments = attachments
        self.name = name
        self.process = process
        self.limits = limits
        self.hostname = hostname
        self.lastExit = lastExit
    }

    public var isRunning: Bool { process != nil }
}

/// A container's published ports as berth's nftables table has them.
public struct ObservedPorts: Sendable, Equatable {
    /// Rules exactly as berth writes them, read back.
    public var forwards: [PortForward]
    /// Rules of the container that are not (changed by hand).
    public var edited: Int

    public init(forwards: [PortForward] = [], edited: Int = 0) {
        self.forwards = forwards
        self.edited = edited
    }
}
