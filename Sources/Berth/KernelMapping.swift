import BerthKernel

/// Translates the spec's terms into the kernel layer's: limits, launch configuration.
///
/// One home for the mapping, so that plan (which compares) and apply (which
/// writes) can never disagree about what a spec value means to the kernel.
public struct KernelMapping: Sendable {
    /// Resolves a block device path to its MAJ:MIN; nil when it is not a block device.
    public var resolveDevice: @Sendable (String) -> (major: UInt32, minor: UInt32)?

    public init(resolveDevice: @escaping @Sendable (String) -> (major: UInt32, minor: UInt32)?) {
        self.resolveDevice = resolveDevice
    }

    /// The mapping for this machine: devices resolved with stat(2).
    public static let host = KernelMapping(resolveDevice: { BlockDevice.number(of: $0) })

    /// The cgroup limits a container's resources ask for. Unresolvable io devices
    /// are left out here; apply's preflight check rejects them first.
    public func limits(for resources: Resources) -> CgroupLimits {
        var io: [IOThrottle] = []
        for limit in resources.io {
            let number: (major: UInt32, minor: UInt32)?
            switch limit.device {
            case .number(let major, let minor): number = (major, minor)
            case .path(let path): number = resolveDevice(path)
            }
            guard let number else { continue }
            io.append(IOThrottle(
                major: number.major, minor: number.minor,
                readBps: limit.readBps?.bytes, writeBps: limit.writeBps?.bytes,
                readIops: limit.readIops.map(UInt64.init), writeIops: limit.writeIops.map(UInt64.init)))
        }
        io.sort { ($0.major, $0.minor) < ($1.major, $1.minor) }
        return CgroupLimits(
            cpuMillicores: resources.cpus?.millicores,
            cpuWeight: resources.cpuWeight,
            cpuset: resources.cpuset?.text,
            memoryBytes: resources.memory?.bytes,
            memorySwapBytes: resources.memorySwap?.bytes,
            pids: resources.pids,
            io: io)
    }

    /// The launch configuration of berth init for a container.
    ///
    /// The ids are those of ``Container/identity`` (the engine resolves it before planning);
    /// an unresolved container runs with the numbers its `user` gives (the engine refuses to
    /// start one whose user is a name that was never resolved; see ``Engine/start``).
    /// A volume mount binds `volumeDirectory(name)`.
    public func config(for c: Container, project: String, extraMounts: [MountEntry] = [],
                       volumeDirectory: (String) -> String) -> ContainerConfig {
        let identity = c.identity ?? c.user.numericIdentity ?? Identity(uid: 65534, gid: 65534)
        let namespaces = Set(c.namespaces.map(Self.namespace))
        var caps = ContainerConfig.defaultCapabilities
        for drop in c.capabilities.drop { caps.removeAll { $0 == drop } }
        for add in c.capabilities.add where !caps.contains(add) { caps.append(add) }
        let mounts: [MountEntry] = c.mounts.map {
            switch $0 {
            case .bind(let source, let target, let readOnly):
                .bind(source: source, target: target, readOnly: readOnly)
            case .tmpfs(let target, let size, let readOnly):
                .tmpfs(target: target, sizeBytes: size?.bytes, readOnly: readOnly)
            case .volume(let name, let target, let readOnly):
                .bind(source: volumeDirectory(name), target: target, readOnly: readOnly)
            }
        }
        return ContainerConfig(
            id: "\(project)/\(c.name)",
            rootfs: c.rootfs,
            argv: c.command,
            env: c.env.map { "\($0.name)=\($0.value)" },
            workdir: c.workdir,
            uid: identity.uid,
            gid: identity.gid,
            hostname: c.namespaces.contains(.uts) ? c.hostname : nil,
            namespaces: namespaces,
            uidMap: Self.idMap(c.userns?.uidMap ?? []),
            gidMap: Self.idMap(c.userns?.gidMap ?? []),
            mounts: mounts + extraMounts,
            readOnlyRootfs: c.readOnlyRootfs,
            capabilities: caps,
            noNewPrivileges: c.noNewPrivileges,
            seccomp: seccomp(c.security.seccomp),
            logging: LogRotation(maxSize: c.logging.maxSize.bytes, maxFiles: c.logging.maxFiles),
            groups: identity.groups,
            devices: c.devices.map { DeviceRequest(path: $0.path, access: $0.access) },
            sysctls: c.sysctls.map { KernelParameter(name: $0.name, value: $0.value) },
            rlimits: c.ulimits.map { ResourceLimit(name: $0.name, soft: $0.soft, hard: $0.hard) })
    }

    // The spec's and the kernel layer's words for the same things: the two modules may not
    // import each other, so each keeps its type, and these are the only conversions
    // (KernelMappingAgreementTests holds the pairs to the same values, both ways).

    /// The kernel's namespace kind of the spec's namespace.
    public static func namespace(_ n: Namespace) -> NamespaceKind {
        switch n {
        case .uts: .uts
        case .ipc: .ipc
        case .pid: .pid
        case .mount: .mount
        case .network: .network
        case .user: .user
        case .cgroup: .cgroup
        }
    }

    /// The lines of a uid_map or gid_map, as the kernel layer writes them.
    public static func idMap(_ lines: [IDMapping]) -> [IDMap] {
        lines.map { IDMap(container: $0.container, host: $0.host, size: $0.size) }
    }

    /// The profile text recorded with the spec: a start never rereads the file behind plan's back.
    func seccomp(_ choice: SeccompChoice) -> SeccompPolicy {
        switch choice {
        case .default: .default
        case .unconfined: .unconfined
        case .file(_, let profile): .profile(profile)
        }
    }

    /// A bridge network as berth's firewall sees it.
    public static func firewall(_ n: Network, project: String) -> FirewallNetwork {
        FirewallNetwork(project: project, name: n.name, bridge: n.bridge, subnet: n.subnet.kernelPrefix, masquerade: n.masquerade)
    }

    /// A container's published ports as DNAT rules to its address on its first network
    /// (empty while it has no address there).
    public static func portForwards(_ c: Container, addresses: IPAM.Assignment) -> [PortForward] {
        guard let network = c.networks.first?.network, let ip = addresses.address(of: c.name, on: network) else { return [] }
        return c.ports.flatMap { p in
            p.pairs.map {
                PortForward(proto: p.proto == .udp ? .udp : .tcp, hostAddress: p.hostAddress?.kernel,
                            hostPort: $0.host, address: ip.kernel, port: $0.container)
            }
        }.sorted()
    }
}
