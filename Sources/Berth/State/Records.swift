import BerthKernel
import FoundationEssentials

/// What berth remembers of a container: only what the kernel cannot tell.
public struct ContainerRecord: Sendable, Equatable, Codable {
    /// The container's spec as last applied.
    public var spec: Container
    /// The limits written for it, in kernel terms (io devices resolved).
    public var limits: CgroupLimits
    /// The berth init started for it; nil between writing the record and the start
    /// (an apply that stopped there left an intent, not a container).
    public var process: ProcessIdentity?
    /// Seconds since the epoch.
    public var startedAt: Double?
    /// How many times berth started it again after it stopped.
    public var restarts: Int
    /// How the previous run ended, kept across a start again (berth init's exit.json
    /// describes the current run only).
    public var lastExit: ExitRecord?
    /// Consecutive quick failures, for the restart backoff (see ``RestartBackoff``).
    public var failures: Int
    /// When a stopped container's next start is due, set by a reconciler that is backing off.
    public var nextStartAt: Double?
    // images
    /// The manifest digest of the image the container was made from (nil for a `rootfs:`).
    public var imageDigest: String?
    /// Whether its root is overlayfs over the image's layers, or the private copy berth made
    /// because overlayfs was refused (see ``ImageRootKind``).
    public var imageRoot: ImageRootKind?
    // operations
    /// The cgroup's OOM kill count when this run started: more now means the OOM killer
    /// struck during the run (memory.oom_control on v1, memory.events on v2).
    public var oomKillsAtStart: Int? = nil
    /// How berth last stopped the container (a replace or an unhealthy restart).
    public var lastStop: StopRecord? = nil

    public init(spec: Container, limits: CgroupLimits, process: ProcessIdentity? = nil,
                startedAt: Double? = nil, restarts: Int = 0, lastExit: ExitRecord? = nil,
                failures: Int = 0, nextStartAt: Double? = nil,
                imageDigest: String? = nil, imageRoot: ImageRootKind? = nil) {  // images
        self.imageDigest = imageDigest
        self.imageRoot = imageRoot
        self.lastExit = lastExit
        self.failures = failures
        self.nextStartAt = nextStartAt
        self.spec = spec
        self.limits = limits
        self.process = process
        self.startedAt = startedAt
        self.restarts = restarts
    }
}

extension ContainerRecord {
    /// A `record.json` as berth reads it: with berth init's small JSON reader (InitJSON),
    /// which costs less CPU than JSONDecoder's generic containers (docs/benchmarks.md: a
    /// no-op plan over 100 networked containers reads 100 records).
    public static func decode(_ bytes: [UInt8]) throws -> ContainerRecord {
        try InitJSON.decode(ContainerRecord.self, from: bytes)
    }
}

/// All of a project's records, as read from the state directory.
public struct ProjectRecords: Sendable, Equatable {
    public var containers: [String: ContainerRecord]
    public var networks: [String: NetworkRecord]

    public init(containers: [String: ContainerRecord] = [:], networks: [String: NetworkRecord] = [:]) {
        self.containers = containers
        self.networks = networks
    }
}
