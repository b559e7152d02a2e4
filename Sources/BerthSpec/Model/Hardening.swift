/// Which seccomp profile a container runs under (`security.seccomp`).
public enum SeccompChoice: Sendable, Equatable, Codable, CustomStringConvertible {
    /// berth's default profile (Docker's semantics), built into berth.
    case `default`
    /// No filter.
    case unconfined
    /// A profile file in the Docker/OCI JSON format: its path as resolved, and its text as
    /// read and checked when the spec was loaded (what starts use, and what plan compares).
    case file(path: String, profile: String)

    public var description: String {
        switch self {
        case .default: "default"
        case .unconfined: "unconfined"
        case .file(let path, _): path
        }
    }
}

/// `security:`: the container's confinement beyond capabilities.
public struct Security: Sendable, Equatable, Codable {
    public var seccomp: SeccompChoice
    public init(seccomp: SeccompChoice = .default) { self.seccomp = seccomp }
}

/// `devices: [{path, access}]`: a host device node the container may use.
public struct DeviceAccess: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Absolute, under /dev, without `..`; the same path inside the container.
    public var path: String
    /// Non-empty subset of `rwm`, in that order. Default `rwm`.
    public var access: String
    public init(path: String, access: String = "rwm") {
        self.path = path
        self.access = access
    }
    public var description: String { "\(path):\(access)" }
}

/// One entry of `sysctls:`; only namespaced parameters (see ``SysctlSetting/namespace(of:)``).
public struct SysctlSetting: Sendable, Equatable, Codable, CustomStringConvertible {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
    public var description: String { "\(name)=\(value)" }

    /// The namespace a parameter belongs to, as Kubernetes' safe and unsafe namespaced
    /// lists define them: `net.*` the network namespace; `kernel.shm*`, `kernel.msg*`,
    /// `kernel.sem`, `fs.mqueue.*` the IPC namespace. nil: not namespaced (it would change the host).
    public static func namespace(of name: String) -> Namespace? {
        if name.hasPrefix("net.") { return .network }
        if name.hasPrefix("kernel.shm") || name.hasPrefix("kernel.msg") || name == "kernel.sem"
            || name.hasPrefix("fs.mqueue.")
        {
            return .ipc
        }
        return nil
    }
}

/// One entry of `ulimits:`: a resource limit of the command.
public struct Ulimit: Sendable, Equatable, Codable, CustomStringConvertible {
    /// One of ``Ulimit/names``.
    public var name: String
    /// ``Ulimit/unlimited`` for no limit; soft <= hard.
    public var soft: UInt64
    public var hard: UInt64
    public init(name: String, soft: UInt64, hard: UInt64) {
        self.name = name
        self.soft = soft
        self.hard = hard
    }

    public static let unlimited = UInt64.max
    /// The resources, by their `ulimit`/Docker names.
    public static let names = ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                               "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]

    public var description: String {
        func t(_ v: UInt64) -> String { v == Ulimit.unlimited ? "unlimited" : String(v) }
        return soft == hard ? "\(name)=\(t(soft))" : "\(name)=\(t(soft)):\(t(hard))"
    }
}
