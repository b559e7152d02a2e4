import CBerth
import Glibc
import SystemPackage

/// A kernel parameter of the container's namespaces, e.g. `net.ipv4.ip_forward` = `1`,
/// written by berth init to /proc/sys inside the new namespaces before anything else.
public struct KernelParameter: Codable, Sendable, Equatable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// `/proc/sys/net/ipv4/ip_forward` for `net.ipv4.ip_forward`.
    public var procPath: String { "/proc/sys/" + String(name.map { $0 == "." ? "/" : $0 }) }

    /// Writes each one; the namespaces are those of the calling process.
    static func write(_ sysctls: [KernelParameter]) throws {
        for sysctl in sysctls {
            let fd = open(sysctl.procPath, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { throw KernelError("sysctl \(sysctl.name)", sysctl.procPath, errno: Errno(rawValue: errno)) }
            defer { close(fd) }
            let bytes = Array(sysctl.value.utf8)
            guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
                throw KernelError("sysctl \(sysctl.name)=\(sysctl.value)", sysctl.procPath, errno: Errno(rawValue: errno))
            }
        }
    }
}

/// A resource limit of the command (setrlimit), by its `ulimit` name: `nofile`, `nproc`...
public struct ResourceLimit: Codable, Sendable, Equatable, Hashable {
    public var name: String
    /// ``unlimited`` for RLIM_INFINITY.
    public var soft: UInt64
    public var hard: UInt64

    public static let unlimited = UInt64.max

    public init(name: String, soft: UInt64, hard: UInt64) {
        self.name = name
        self.soft = soft
        self.hard = hard
    }

    /// The resources by name and their RLIMIT_ numbers (asm-generic, the same on x86 and arm).
    public static let resources: [String: Int32] = [
        "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
        "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14,
        "rttime": 15,
    ]

    /// The calling process's limit (soft, hard); nil for an unknown name.
    public static func current(_ name: String) -> (soft: UInt64, hard: UInt64)? {
        guard let resource = resources[name] else { return nil }
        var value = rlimit()
        guard getrlimit(__rlimit_resource_t(resource), &value) == 0 else { return nil }
        return (UInt64(value.rlim_cur), UInt64(value.rlim_max))
    }

    /// Why this limit cannot be set by a process like the caller, or nil: raising the
    /// hard limit above the current one needs CAP_SYS_RESOURCE (which the host's root
    /// may lack in its bounding set, as on this kind of sandboxed machine).
    public var problem: String? {
        guard let now = Self.current(name) else { return "unknown resource \(name)" }
        if soft > hard { return "the soft limit \(Self.text(soft)) is above the hard limit \(Self.text(hard))" }
        if hard > now.hard && !Capabilities.effectiveContains("CAP_SYS_RESOURCE") {
            return "raising the hard limit from \(Self.text(now.hard)) to \(Self.text(hard)) needs CAP_SYS_RESOURCE, "
                + "which berth does not hold here; ask for at most \(Self.text(now.hard))"
        }
        return nil
    }

    static func text(_ v: UInt64) -> String { v == unlimited ? "unlimited" : String(v) }

    /// setrlimit for each one, in the command's process before it drops capabilities.
    static func apply(_ limits: [ResourceLimit]) throws {
        for limit in limits {
            guard let resource = resources[limit.name] else {
                throw KernelError("setrlimit", limit.name, detail: "unknown resource")
            }
            var value = rlimit(rlim_cur: rlim_t(limit.soft), rlim_max: rlim_t(limit.hard))
            guard setrlimit(__rlimit_resource_t(resource), &value) == 0 else {
                throw KernelError("setrlimit \(limit.name)", "\(text(limit.soft)):\(text(limit.hard))",
                                  errno: Errno(rawValue: errno))
            }
        }
    }
}
