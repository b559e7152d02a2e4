import CBerth
import CCap
import Glibc
import SystemPackage

/// Capability names and the steps that give a process exactly a set of them (through libcap).
public enum Capabilities {
    /// The number of a capability named like `CAP_NET_ADMIN` (any case, with or without `CAP_`),
    /// or nil when neither libcap nor the running kernel knows it.
    public static func value(named name: String) -> Int32? {
        var lower = name.lowercased()
        if !lower.hasPrefix("cap_") { lower = "cap_" + lower }
        var value: cap_value_t = 0
        guard cap_from_name(lower, &value) == 0, value >= 0, value <= lastCapability else { return nil }
        return value
    }

    /// The highest capability number the running kernel knows.
    public static let lastCapability: Int32 = {
        if let text = try? ProcFS.readText("/proc/sys/kernel/cap_last_cap"),
            let n = Int32(text.split(separator: "\n").first ?? "")
        {
            return n
        }
        return cap_max_bits() - 1
    }()

    /// The numbers of `names`; throws naming the first unknown one.
    public static func values(of names: [String]) throws -> [Int32] {
        try names.map { name in
            guard let v = value(named: name) else {
                throw KernelError("capability", name, detail: "unknown to this kernel or libcap")
            }
            return v
        }
    }

    /// The bit mask of `names`, as `CapEff:` in `/proc/PID/status` shows it.
    public static func mask(of names: [String]) throws -> UInt64 {
        try values(of: names).reduce(0) { $0 | (1 << UInt64($1)) }
    }

    /// Drops every capability not in `keep` from the bounding set (needs CAP_SETPCAP),
    /// and clears the ambient set. Call before changing uid.
    static func limitBoundingSet(to keep: Set<Int32>) throws {
        for cap in 0...lastCapability where !keep.contains(cap) {
            guard cap_drop_bound(cap) == 0 else {
                throw KernelError("drop capability from bounding set", String(cap), errno: Errno(rawValue: errno))
            }
        }
        // One call, where libcap's cap_reset_ambient() asks about every capability first.
        guard cberth_prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0) == 0 else {
            throw KernelError("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", "ambient capabilities", errno: Errno(rawValue: errno))
        }
    }

    /// Sets permitted and effective to `caps` (for uid 0) or to nothing, and
    /// inheritable to nothing. Call after changing uid.
    static func setProcessSets(_ caps: Set<Int32>, root: Bool) throws {
        try setSets(root ? caps : [], flags: [(CAP_PERMITTED, "permitted"), (CAP_EFFECTIVE, "effective")])
    }
}

extension Capabilities {
    /// Permitted only, nothing effective or inheritable: what berth init keeps of its
    /// command's set so that a healthcheck it forks can get the same (see ``setAmbientSets(_:)``).
    static func setPermittedOnly(_ caps: Set<Int32>) throws {
        try setSets(caps, flags: [(CAP_PERMITTED, "permitted")])
    }

    /// Permitted, effective and inheritable to `caps` (within the permitted set: no
    /// capability is needed) and each raised as ambient, so that it survives an execve
    /// under securebits' NOROOT, where uid 0 alone gains nothing.
    static func setAmbientSets(_ caps: Set<Int32>) throws {
        try setSets(caps, flags: [(CAP_PERMITTED, "permitted"), (CAP_EFFECTIVE, "effective"), (CAP_INHERITABLE, "inheritable")])
        for cap in caps.sorted() {
            guard cberth_prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_RAISE), UInt(cap), 0, 0) == 0 else {
                throw KernelError("prctl(PR_CAP_AMBIENT_RAISE)", String(cap), errno: Errno(rawValue: errno))
            }
        }
    }

    private static func setSets(_ caps: Set<Int32>, flags: [(cap_flag_t, String)]) throws {
        guard let state = cap_init() else {
            throw KernelError("cap_init", "", errno: Errno(rawValue: errno))
        }
        defer { cap_free(UnsafeMutableRawPointer(state)) }
        var list = caps.sorted()
        if !list.isEmpty {
            for (flag, name) in flags {
                guard cap_set_flag(state, flag, Int32(list.count), &list, CAP_SET) == 0 else {
                    throw KernelError("cap_set_flag", "\(name) \(list.map(String.init).joined(separator: ","))",
                                      errno: Errno(rawValue: errno))
                }
            }
        }
        guard cap_set_proc(state) == 0 else {
            throw KernelError("cap_set_proc", list.map(String.init).joined(separator: ","), errno: Errno(rawValue: errno))
        }
    }
}

extension Capabilities {
    /// True when the calling process holds the capability in its effective set.
    public static func effectiveContains(_ name: String) -> Bool {
        guard let cap = value(named: name), let state = cap_get_proc() else { return false }
        defer { cap_free(UnsafeMutableRawPointer(state)) }
        var flag = CAP_CLEAR
        return cap_get_flag(state, cap, CAP_EFFECTIVE, &flag) == 0 && flag == CAP_SET
    }
}
