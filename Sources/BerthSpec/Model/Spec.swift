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
    // volumes
    /// Named volumes in the order they appear in the file.
    public var volumes: [Volume]
    // reliability
    /// The text it was loaded from, so that errors found after validation point at their field.
    public var source: SpecSource

    public init(version: Int = 1, project: String, networks: [Network] = [], containers: [Container],
                volumes: [Volume] = [],
                source: SpecSource = SpecSource()) {  // reliability
        self.version = version
        self.project = project
        self.networks = networks
        self.containers = containers
        self.volumes = volumes
        self.source = source
    }

    /// The container called `name`, if the spec has one.
    public func container(named name: String) -> Container? {
        containers.first { $0.name == name }
    }

    /// The network called `name`, if the spec has one.
    public func network(named name: String) -> Network? {
        networks.first { $0.name == name }
    }
}

/// A network: a private bridge, a bridge onto the host's LAN, or macvlan children of a NIC.
public struct Network: Sendable, Equatable, Codable {
    /// `[a-z0-9][a-z0-9-]*`, at most 63 characters.
    public var name: String
    /// Prefix /8 to /30, host bits zero; no two networks of a spec overlap.
    public var subnet: IPv4CIDR
    /// Default: the first host address of the subnet.
    public var gateway: IPv4Address
    /// Linux interface name of the bridge (at most 15 characters).
    /// Default: derived from project and network name (see ``Network/defaultBridgeName(project:network:)``).
    public var bridge: String
    /// 68...65535; nil for the kernel's default.
    public var mtu: Int?
    /// NAT for traffic that leaves the subnet.
    public var masquerade: Bool
    // lan
    /// What the network is; default `.bridge`. On `.lan` and `.macvlan`, `subnet` and
    /// `gateway` are the LAN's own (the gateway is its router, not an address of berth's).
    public var mode: NetworkMode
    /// The host NIC the network is built on: `uplink:` of a lan network (it joins the
    /// bridge), `parent:` of a macvlan network; nil on a bridge network.
    public var uplink: String?
    /// The part of the subnet berth hands out to containers without a static address;
    /// nil: the whole subnet (bridge), none (lan and macvlan: every address is static).
    public var ipRange: IPv4CIDR?
    /// macvlan only: a macvlan interface of the host's own on the parent, with a /32 route
    /// to each container, so that the host reaches its containers.
    public var hostAccess: Bool

    public init(name: String, subnet: IPv4CIDR, gateway: IPv4Address, bridge: String, mtu: Int? = nil, masquerade: Bool = false,
                mode: NetworkMode = .bridge, uplink: String? = nil, ipRange: IPv4CIDR? = nil, hostAccess: Bool = false  // lan
    ) {
        self.name = name
        self.subnet = subnet
        self.gateway = gateway
        self.bridge = bridge
        self.mtu = mtu
        self.masquerade = masquerade
        self.mode = mode
        self.uplink = uplink
        self.ipRange = ipRange
        self.hostAccess = hostAccess
    }

    private enum CodingKeys: String, CodingKey {
        case name, subnet, gateway, bridge, mtu, masquerade, mode, uplink, ipRange, hostAccess
    }

    // Records written before the lan fields existed decode as bridge networks.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), subnet: try c.decode(IPv4CIDR.self, forKey: .subnet),
                  gateway: try c.decode(IPv4Address.self, forKey: .gateway), bridge: try c.decode(String.self, forKey: .bridge),
                  mtu: try c.decodeIfPresent(Int.self, forKey: .mtu), masquerade: try c.decode(Bool.self, forKey: .masquerade),
                  mode: try c.decodeIfPresent(NetworkMode.self, forKey: .mode) ?? .bridge,
                  uplink: try c.decodeIfPresent(String.self, forKey: .uplink),
                  ipRange: try c.decodeIfPresent(IPv4CIDR.self, forKey: .ipRange),
                  hostAccess: try c.decodeIfPresent(Bool.self, forKey: .hostAccess) ?? false)
    }
}

/// A container: everything needed to start it and to tell whether a running one still matches.
public struct Container: Sendable, Equatable, Codable {
    /// `[a-z0-9][a-z0-9-]*`, at most 63 characters: safe as a cgroup path component.
    public var name: String
    /// Absolute path, resolved against the spec file's directory; empty when the container has
    /// an `image:` (then its root is made from the image's layers).
    public var rootfs: String
    /// Non-empty argv; with an `image:` it may be empty, meaning "the image's Cmd".
    public var command: [String]
    /// Environment, sorted by name.
    public var env: [EnvVar]
    /// Default "/".
    public var workdir: String
    /// Default root (uid 0 and its groups); see ``User`` for how names and numbers resolve.
    public var user: User
    /// Default: the container's name. Only applied with the uts namespace (validation refuses
    /// an explicit hostname without it; without it the default must not be set on the host).
    public var hostname: String
    /// Default: uts, ipc, pid, mount, network. Sorted in ``Namespace`` order.
    public var namespaces: [Namespace]
    /// Present exactly when `namespaces` contains `.user` (validation requires a mapping with
    /// the user namespace; when `user` is set, its uid and gid are mapped).
    public var userns: UserNamespace?
    /// In the order written; only with the network namespace.
    public var networks: [NetworkAttachment]
    /// Name servers for /etc/resolv.conf, at most 3; empty to leave resolv.conf alone.
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
    /// In the order written; targets are unique, absolute and without `..`.
    public var mounts: [Mount]
    // operations
    /// Log rotation; default 10Mi x 3 files.
    public var logging: Logging
    /// nil: no check (none written, or `test: ["NONE"]`).
    public var healthcheck: Healthcheck?
    /// Containers that must reach a condition before this one starts; in the order written.
    public var dependsOn: [Dependency]
    // users
    /// What `user` resolved to in the container's root; set by the engine before it plans
    /// (validation does not read the root), nil until then.
    public var identity: Identity?
    // images
    /// Where the root comes from when it is not `rootfs`: exactly one of the two is set.
    public var image: ImageSource?
    /// Replaces the image's Entrypoint (and drops its Cmd); only with `image`. nil: the image's.
    public var entrypoint: [String]?
    // networks
    /// Published ports, in the order written: DNAT from the host to the container's address on
    /// its first network (a bridge network); no two containers share a host port.
    public var ports: [PublishedPort]
    // registry
    /// When apply asks the registry for `image:` (registry references only). Default `.missing`.
    public var pull: PullPolicy
    // hardening
    /// Default: berth's seccomp profile.
    public var security: Security
    /// In the order written; paths unique.
    public var devices: [DeviceAccess]
    /// Sorted by name; each one's namespace is among `namespaces`.
    public var sysctls: [SysctlSetting]
    /// Sorted by name.
    public var ulimits: [Ulimit]
    /// no_new_privs for the command. Default true; false for images that need setuid binaries.
    public var noNewPrivileges: Bool

    public init(
        name: String, rootfs: String, command: [String], env: [EnvVar] = [], workdir: String = "/",
        user: User = .root, hostname: String? = nil,
        namespaces: [Namespace] = Namespace.defaults, userns: UserNamespace? = nil,
        networks: [NetworkAttachment] = [], dns: [IPv4Address] = [], resources: Resources = Resources(),
        restart: RestartPolicy = .always, stopSignal: Signal = .named("SIGTERM")!,
        stopTimeout: TimeSpan = TimeSpan(milliseconds: 10_000, text: "10s"), readOnlyRootfs: Bool = false,
        capabilities: CapabilityChanges = CapabilityChanges(), mounts: [Mount] = [],
        logging: Logging = Logging(),
        identity: Identity? = nil,
        image: ImageSource? = nil, entrypoint: [String]? = nil,  // images
        healthcheck: Healthcheck? = nil, dependsOn: [Dependency] = [],  // operations
        ports: [PublishedPort] = [],  // networks
        pull: PullPolicy = .missing,  // registry
        security: Security = Security(), devices: [DeviceAccess] = [], sysctls: [SysctlSetting] = [],
        ulimits: [Ulimit] = [], noNewPrivileges: Bool = true  // hardening
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
        self.logging = logging
        self.healthcheck = healthcheck
        self.dependsOn = dependsOn
        self.identity = identity
        self.image = image
        self.entrypoint = entrypoint
        self.ports = ports
        self.pull = pull
        self.security = security
        self.devices = devices
        self.sysctls = sysctls
        self.ulimits = ulimits
        self.noNewPrivileges = noNewPrivileges
    }
}

/// One environment variable: the name holds no `=` or NUL.
public struct EnvVar: Sendable, Equatable, Codable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A Linux namespace a container gets. `mount` is always among them (validation requires it).
public enum Namespace: String, Sendable, Equatable, Codable, CaseIterable, Comparable {
    case uts, ipc, pid, mount, network, user, cgroup

    public static let defaults: [Namespace] = [.uts, .ipc, .pid, .mount, .network]

    public static func < (a: Namespace, b: Namespace) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One line of uid_map or gid_map: container ids `container..<container+size` are host ids `host..<host+size`.
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

/// The id mappings of a user namespace; each map holds 1 to 340 ranges that overlap on neither side.
public struct UserNamespace: Sendable, Equatable, Codable {
    public var uidMap: [IDMapping]
    public var gidMap: [IDMapping]
    public init(uidMap: [IDMapping], gidMap: [IDMapping]) {
        self.uidMap = uidMap
        self.gidMap = gidMap
    }
}

/// A container's place on a network.
public struct NetworkAttachment: Sendable, Equatable, Codable {
    /// The name of a network of the spec.
    public var network: String
    /// Static address (inside the subnet, not its network, broadcast or gateway address, unique
    /// in the spec); nil when berth chooses one.
    public var ip: IPv4Address?
    public init(network: String, ip: IPv4Address? = nil) {
        self.network = network
        self.ip = ip
    }
}

/// What happens when a container's main process exits.
public enum RestartPolicy: String, Sendable, Equatable, Codable, CaseIterable {
    case always
    case onFailure = "on-failure"
    case never
}

/// Changes to the default capability set. `ALL` in the spec is expanded here into every name of
/// ``Capability/names`` except those named in the other list (`drop: [ALL], add: [NET_BIND_SERVICE]`
/// keeps NET_BIND_SERVICE); a name is never in both lists.
public struct CapabilityChanges: Sendable, Equatable, Codable {
    /// Canonical names with the `CAP_` prefix, e.g. `CAP_NET_BIND_SERVICE`, in the order written.
    public var add: [String]
    public var drop: [String]
    public init(add: [String] = [], drop: [String] = []) {
        self.add = add
        self.drop = drop
    }
}

/// An extra mount of a container.
public enum Mount: Sendable, Equatable, Codable {
    /// `source` is absolute (resolved against the spec file's directory).
    case bind(source: String, target: String, readOnly: Bool)
    /// `size` nil for the kernel's default (half of RAM).
    case tmpfs(target: String, size: ByteSize?, readOnly: Bool)
    // volumes
    /// A named volume of the spec's top-level `volumes:`.
    case volume(name: String, target: String, readOnly: Bool)

    public var target: String {
        switch self {
        case .bind(_, let target, _), .tmpfs(let target, _, _), .volume(_, let target, _): target
        }
    }
}

/// cgroup limits; nil (or empty) means no limit.
public struct Resources: Sendable, Equatable, Codable {
    /// More than 0, whole millicores.
    public var cpus: CPUAmount?
    /// 1...10000 (cgroup v2 weight).
    public var cpuWeight: Int?
    /// At least one CPU.
    public var cpuset: CPUSet?
    /// At least 1Mi.
    public var memory: ByteSize?
    /// Swap allowed beyond `memory` (0: none); only set when `memory` is. On cgroup v1 the
    /// kernel file wants memory + swap (memory.memsw.limit_in_bytes).
    public var memorySwap: ByteSize?
    /// At least 1; nil for no limit (there is no "max" in the spec: omit the field).
    public var pids: Int?
    /// One entry per device.
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

/// The block device of an io limit.
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

/// Limits on one block device; at least one of the four is set, sizes and counts more than 0.
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
