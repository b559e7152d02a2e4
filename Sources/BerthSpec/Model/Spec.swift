/// A validated spec of format version 1: every field typed, every default filled.
///
/// A `Spec` is only ever made by ``SpecLoader``, which checks every rule of the
/// format first; code downstream (plan, apply) can rely on what it holds.
public struct Spec: Sendable, Equatable, Codable {
    /// The format version (always 1 for now).
    public var version: Int
    /// The project name: `[a-z0-9][a-z0-9-]*`, at most 32 characters.
    public var project: String
    /// Networks in the order they appear in the file.
    public var networks: [Network]
    /// Containers in the order they appear in the file.
    public var containers: [Container]

    public init(version: Int = 1, project: String, networks: [Network] = [], containers: [Container]) {
        self.version = version
        self.project = project
        self.networks = networks
        self.containers = containers
    }

    public func container(named name: String) -> Container? {
        containers.first { $0.name == name }
    }

    public func network(named name: String) -> Network? {
        networks.first { $0.name == name }
    }
}

/// A bridge network.
public struct Network: Sendable, Equatable, Codable {
    public var name: String
    public var subnet: IPv4CIDR
    /// Default: the first host address of the subnet.
    public var gateway: IPv4Address
    /// Linux interface name of the bridge (at most 15 characters).
    /// Default: derived from project and network name (see ``Network/defaultBridgeName(project:network:)``).
    public var bridge: String
    public var mtu: Int?
    public var masquerade: Bool

    public init(name: String, subnet: IPv4CIDR, gateway: IPv4Address, bridge: String, mtu: Int? = nil, masquerade: Bool = false) {
        self.name = name
        self.subnet = subnet
        self.gateway = gateway
        self.bridge = bridge
        self.mtu = mtu
        self.masquerade = masquerade
    }
}

public struct Container: Sendable, Equatable, Codable {
    public var name: String
    /// Absolute path, resolved against the spec file's directory.
    public var rootfs: String
    /// Non-empty argv.
    public var command: [String]
    /// Environment, sorted by name.
    public var env: [EnvVar]
    /// Default "/".
    public var workdir: String
    /// Default 0:0.
    public var user: User
    /// Default: the container's name.
    public var hostname: String
    /// Default: uts, ipc, pid, mount, network. Sorted in ``Namespace`` order.
    public var namespaces: [Namespace]
    /// Present only when `namespaces` contains `.user`.
    public var userns: UserNamespace?
    /// In the order written; only with the network namespace.
    public var networks: [NetworkAttachment]
    public var dns: [IPv4Address]
    public var resources: Resources
    /// Default `.always`.
    public var restart: RestartPolicy
    /// Default SIGTERM.
    public var stopSignal: Signal
    /// Default 10s.
    public var stopTimeout: TimeSpan
    public var readOnlyRootfs: Bool
    public var capabilities: CapabilityChanges
    public var mounts: [Mount]

    public init(
        name: String, rootfs: String, command: [String], env: [EnvVar] = [], workdir: String = "/",
        user: User = User(uid: 0, gid: 0), hostname: String? = nil,
        namespaces: [Namespace] = Namespace.defaults, userns: UserNamespace? = nil,
        networks: [NetworkAttachment] = [], dns: [IPv4Address] = [], resources: Resources = Resources(),
        restart: RestartPolicy = .always, stopSignal: Signal = .named("SIGTERM")!,
        stopTimeout: TimeSpan = TimeSpan(milliseconds: 10_000, text: "10s"), readOnlyRootfs: Bool = false,
        capabilities: CapabilityChanges = CapabilityChanges(), mounts: [Mount] = []
    ) {
        self.name = name
        self.rootfs = rootfs
        self.command = command
        self.env = env
        self.workdir = workdir
        self.user = user
        self.hostname = hostname ?? name
        self.namespaces = namespaces
        self.userns = userns
        self.networks = networks
        self.dns = dns
        self.resources = resources
        self.restart = restart
        self.stopSignal = stopSignal
        self.stopTimeout = stopTimeout
        self.readOnlyRootfs = readOnlyRootfs
        self.capabilities = capabilities
        self.mounts = mounts
    }
}

public struct EnvVar: Sendable, Equatable, Codable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `uid[:gid]` inside the container; gid defaults to uid.
public struct User: Sendable, Equatable, Codable, CustomStringConvertible {
    public var uid: UInt32
    public var gid: UInt32
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
    public var description: String { "\(uid):\(gid)" }
}

public enum Namespace: String, Sendable, Equatable, Codable, CaseIterable, Comparable {
    case uts, ipc, pid, mount, network, user, cgroup

    public static let defaults: [Namespace] = [.uts, .ipc, .pid, .mount, .network]

    public static func < (a: Namespace, b: Namespace) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public struct IDMapping: Sendable, Equatable, Codable {
    public var container: UInt32
    public var host: UInt32
    public var size: UInt32
    public init(container: UInt32, host: UInt32, size: UInt32) {
        self.container = container
        self.host = host
        self.size = size
    }
}

public struct UserNamespace: Sendable, Equatable, Codable {
    public var uidMap: [IDMapping]
    public var gidMap: [IDMapping]
    public init(uidMap: [IDMapping], gidMap: [IDMapping]) {
        self.uidMap = uidMap
        self.gidMap = gidMap
    }
}

public struct NetworkAttachment: Sendable, Equatable, Codable {
    /// The name of a network of the spec.
    public var network: String
    /// Static address; nil when berth chooses one.
    public var ip: IPv4Address?
    public init(network: String, ip: IPv4Address? = nil) {
        self.network = network
        self.ip = ip
    }
}

public enum RestartPolicy: String, Sendable, Equatable, Codable, CaseIterable {
    case always
    case onFailure = "on-failure"
    case never
}

public struct CapabilityChanges: Sendable, Equatable, Codable {
    /// Canonical names with the `CAP_` prefix, e.g. `CAP_NET_BIND_SERVICE`, in the order written.
    public var add: [String]
    public var drop: [String]
    public init(add: [String] = [], drop: [String] = []) {
        self.add = add
        self.drop = drop
    }
}

public enum Mount: Sendable, Equatable, Codable {
    /// `source` is absolute (resolved against the spec file's directory).
    case bind(source: String, target: String, readOnly: Bool)
    case tmpfs(target: String, size: ByteSize?, readOnly: Bool)

    public var target: String {
        switch self {
        case .bind(_, let target, _), .tmpfs(let target, _, _): target
        }
    }
}

public struct Resources: Sendable, Equatable, Codable {
    public var cpus: CPUAmount?
    /// 1...10000 (cgroup v2 weight).
    public var cpuWeight: Int?
    public var cpuset: CPUSet?
    public var memory: ByteSize?
    public var memorySwap: ByteSize?
    public var pids: Int?
    public var io: [IOLimit]

    public init(
        cpus: CPUAmount? = nil, cpuWeight: Int? = nil, cpuset: CPUSet? = nil, memory: ByteSize? = nil,
        memorySwap: ByteSize? = nil, pids: Int? = nil, io: [IOLimit] = []
    ) {
        self.cpus = cpus
        self.cpuWeight = cpuWeight
        self.cpuset = cpuset
        self.memory = memory
        self.memorySwap = memorySwap
        self.pids = pids
        self.io = io
    }
}

public enum IODevice: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// A block device path such as `/dev/vda` (resolved to MAJ:MIN at apply time).
    case path(String)
    case number(major: UInt32, minor: UInt32)

    public var description: String {
        switch self {
        case .path(let p): p
        case .number(let major, let minor): "\(major):\(minor)"
        }
    }
}

public struct IOLimit: Sendable, Equatable, Codable {
    public var device: IODevice
    public var readBps: ByteSize?
    public var writeBps: ByteSize?
    public var readIops: Int?
    public var writeIops: Int?
    public init(device: IODevice, readBps: ByteSize? = nil, writeBps: ByteSize? = nil, readIops: Int? = nil, writeIops: Int? = nil) {
        self.device = device
        self.readBps = readBps
        self.writeBps = writeBps
        self.readIops = readIops
        self.writeIops = writeIops
    }
}
