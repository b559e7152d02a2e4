/// Linux capability names, as the kernel numbers them.
public enum Capability {
    /// Index = capability number, up to `CAP_CHECKPOINT_RESTORE` (40, Linux 5.9).
    /// A kernel may know fewer (`/proc/sys/kernel/cap_last_cap`); the runtime skips the
    /// ones the running kernel lacks when it drops capabilities.
    public static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
        "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]

    /// `net_bind_service`, `NET_BIND_SERVICE` and `CAP_NET_BIND_SERVICE` all give
    /// `CAP_NET_BIND_SERVICE`; nil for an unknown name.
    public static func canonicalName(_ name: String) -> String? {
        byName[name.uppercased()]
    }

    /// The kernel's number for a canonical name.
    public static func number(of canonicalName: String) -> Int? {
        numbers[canonicalName]
    }

    /// Upper-case names, with and without `CAP_`, to canonical names.
    private static let byName: [String: String] = {
        var table: [String: String] = [:]
        for name in names {
            table[name] = name
            table[String(name.dropFirst(4))] = name
        }
        return table
    }()

    private static let numbers: [String: Int] = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
}
