/// Everything the runtime needs to start one container, in kernel terms.
///
/// The engine maps a validated spec to this; the runtime does not know the spec.
/// It crosses the exec into `berth init` as JSON.
public struct ContainerConfig: Codable, Sendable, Equatable {
    /// `project/name`, used in messages.
    public var id: String
    /// The root filesystem: an absolute host path to a directory.
    public var rootfs: String
    /// The command; `argv[0]` without a `/` is looked up in the container's `PATH`.
    public var argv: [String]
    /// `KEY=value` entries.
    public var env: [String]
    /// Absolute path inside the container; created when missing.
    public var workdir: String
    public var uid: UInt32
    public var gid: UInt32
    /// Set when the UTS namespace is new.
    public var hostname: String?
    public var namespaces: Set<NamespaceKind>
    /// Only with a user namespace: container ids to host ids. Container uid and gid 0 must be mapped.
    public var uidMap: [IDMap]
    public var gidMap: [IDMap]
    /// Made in order, after the standard ones (/proc, /dev, /sys) and before `readOnlyRootfs`.
    public var mounts: [MountEntry]
    public var readOnlyRootfs: Bool
    /// The final capability set by name (`CAP_CHOWN`, ...): the bounding set, and
    /// for uid 0 also the permitted and effective sets. A non-root user has none effective.
    public var capabilities: [String]
    public var noNewPrivileges: Bool
    // hardening
    /// The seccomp filter of the command (and of `berth exec`'s processes), compiled
    /// for ``capabilities`` and installed by berth init just before execve.
    public var seccomp: SeccompPolicy
    // operations
    /// How berth init rotates the command's log.
    public var logging: LogRotation
    // users
    /// Supplementary groups, set with setgroups(2) before the gid and uid.
    public var groups: [UInt32]
    // hardening
    /// Host device nodes bind-mounted at the same path in the container's /dev, and
    /// allowed by its cgroup's device policy (the engine writes it, see ``DevicePolicy``).
    public var devices: [DeviceRequest]
    /// Written by berth init inside the container's namespaces (only namespaced ones: validation).
    public var sysctls: [KernelParameter]
    /// Set on the command only; limits not listed are inherited unchanged.
    public var rlimits: [ResourceLimit]
    // images
    /// When set, `rootfs` is an empty mount point and the root is this overlay, mounted there
    /// in the container's mount namespace (nothing is left mounted on the host).
    public var overlay: OverlayRoot? = nil

    /// Docker's default set: the 14 capabilities a container's root keeps.
    public static let defaultCapabilities: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

    /// What berth uses when a spec says nothing: uts, ipc, pid, mount, network.
    public static let defaultNamespaces: Set<NamespaceKind> = [.uts, .ipc, .pid, .mount, .network]

    public init(
        id: String, rootfs: String, argv: [String], env: [String] = [], workdir: String = "/",
        uid: UInt32 = 0, gid: UInt32 = 0, hostname: String? = nil,
        namespaces: Set<NamespaceKind> = ContainerConfig.defaultNamespaces,
        uidMap: [IDMap] = [], gidMap: [IDMap] = [], mounts: [MountEntry] = [],
        readOnlyRootfs: Bool = false, capabilities: [String] = ContainerConfig.defaultCapabilities,
        noNewPrivileges: Bool = true,
        seccomp: SeccompPolicy = .default,
        logging: LogRotation = .standard,
        groups: [UInt32] = [],
        devices: [DeviceRequest] = [], sysctls: [KernelParameter] = [], rlimits: [ResourceLimit] = []
    ) {
        self.id = id
        self.rootfs = rootfs
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.uid = uid
        self.gid = gid
        self.hostname = hostname
        self.namespaces = namespaces
        self.uidMap = uidMap
        self.gidMap = gidMap
        self.mounts = mounts
        self.readOnlyRootfs = readOnlyRootfs
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
        self.seccomp = seccomp
        self.logging = logging
        self.groups = groups
        self.devices = devices
        self.sysctls = sysctls
        self.rlimits = rlimits
    }
}

/// One line of a user namespace's uid_map or gid_map.
public struct IDMap: Codable, Sendable, Equatable, Hashable {
    public var container: UInt32
    public var host: UInt32
    public var size: UInt32
    public init(container: UInt32, host: UInt32, size: UInt32) {
        self.container = container
        self.host = host
        self.size = size
    }
}

/// A mount of the spec, made inside the container's mount namespace.
public enum MountEntry: Codable, Sendable, Equatable, Hashable {
    /// `source`: an absolute host path (file or directory). `target`: absolute inside the container.
    case bind(source: String, target: String, readOnly: Bool)
    /// A fresh tmpfs, mode 1777; `sizeBytes` nil means the kernel's default (half of RAM).
    case tmpfs(target: String, sizeBytes: UInt64?, readOnly: Bool)

    public var target: String {
        switch self {
        case .bind(_, let target, _), .tmpfs(let target, _, _): target
        }
    }
}

/// How a process ended: an exit code, or the signal that killed it.
public enum ProcessExitStatus: Sendable, Equatable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// From a wait(2) status word.
    public init(waitStatus status: Int32) {
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(status & 0x7f)
        }
    }

    /// The shell's convention: the code, or 128 + the signal.
    public var shellCode: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit code \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }
}
