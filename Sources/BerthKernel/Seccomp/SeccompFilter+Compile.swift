import CBerth
import CSeccomp
import Glibc
import Synchronization

/// Compiling a profile with libseccomp: the parent's side of ``SeccompFilter``.
extension SeccompFilter {

    private struct CacheKey: Hashable {
        var profile: [UInt8]
        var capabilities: [String]
    }

    /// Compiled filters by profile and capability set: a berth that starts many
    /// containers compiles the default profile once per capability set.
    private static let cache = Mutex<[CacheKey: SeccompFilter]>([:])

    /// The filter for `policy` and the container's capabilities (names like
    /// `CAP_SYS_ADMIN`); nil for `.unconfined`. Cached.
    public static func filter(for policy: SeccompPolicy, capabilities: [String]) throws -> SeccompFilter? {
        guard let bytes = policy.profileBytes else { return nil }
        let key = CacheKey(profile: bytes, capabilities: Set(capabilities.map { $0.uppercased() }).sorted())
        if let hit = cache.withLock({ $0[key] }) { return hit }
        let filter = try compile(SeccompProfile.decode(bytes), capabilities: Set(key.capabilities))
        cache.withLock { $0[key] = filter }
        return filter
    }

    /// Compiles a profile for a container holding `capabilities` (upper-case `CAP_` names).
    public static func compile(_ profile: SeccompProfile, capabilities: Set<String>) throws -> SeccompFilter {
        let defaultAction = try action(profile.defaultAction, errno: profile.defaultErrnoRet)
        guard let ctx = seccomp_init(defaultAction) else { throw SeccompError.libseccomp("seccomp_init", -ENOMEM) }
        defer { seccomp_release(ctx) }
        // berth sets no_new_privs itself (or deliberately not, with noNewPrivileges: false).
        try check("seccomp_attr_set", seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0))
        for arch in try architectures(profile) where arch != cseccomp_arch_native() {
            let rc = seccomp_arch_add(ctx, arch)
            if rc != -EEXIST { try check("seccomp_arch_add", rc) }
        }
        let machine = Machine.current
        for rule in profile.syscalls ?? [] {
            guard applies(rule, capabilities: capabilities, machine: machine) else { continue }
            let ruleAction = try action(rule.action, errno: rule.errnoRet)
            let conditions = try (rule.args ?? []).map(condition)
            // Several conditions on one argument cannot all hold at once: moby reads them
            // as alternatives, one rule each; on different arguments they must all hold.
            let indices = Set(conditions.map(\.arg))
            let groups = indices.count == conditions.count ? [conditions] : conditions.map { [$0] }
            for name in rule.allNames {
                let number = seccomp_syscall_resolve_name(name)
                // A name this libseccomp does not know: skipped, as runc and crun do, so that
                // one profile serves older and newer machines.
                guard number != __NR_SCMP_ERROR else { continue }
                if ruleAction == defaultAction && conditions.isEmpty { continue }
                for group in groups {
                    var args = group
                    let rc = seccomp_rule_add_array(ctx, ruleAction, number, UInt32(args.count), &args)
                    // -EACCES: the action is the default one; nothing to add.
                    if rc == -EACCES { continue }
                    try check("seccomp_rule_add(\(name))", rc)
                }
            }
        }
        return SeccompFilter(program: try export(ctx))
    }

    private static func check(_ call: String, _ rc: Int32) throws {
        if rc < 0 { throw SeccompError.libseccomp(call, rc) }
    }

    private static func export(_ ctx: scmp_filter_ctx) throws -> [UInt8] {
        let fd = cberth_memfd_create("berth-seccomp", CBERTH_MFD_CLOEXEC)
        guard fd >= 0 else { throw SeccompError.libseccomp("memfd_create", -errno) }
        defer { close(fd) }
        try check("seccomp_export_bpf", seccomp_export_bpf(ctx, fd))
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0, lseek(fd, 0, SEEK_SET) == 0 else { throw SeccompError.libseccomp("lseek", -EIO) }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n == size else { throw SeccompError.libseccomp("read exported filter", -EIO) }
        return bytes
    }

    static func action(_ name: String, errno: UInt32?) throws -> UInt32 {
        switch name {
        case "SCMP_ACT_ALLOW": return cseccomp_act_allow()
        case "SCMP_ACT_ERRNO": return cseccomp_act_errno(UInt16(truncatingIfNeeded: errno ?? UInt32(EPERM)))
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return cseccomp_act_kill_thread()
        case "SCMP_ACT_KILL_PROCESS": return cseccomp_act_kill_process()
        case "SCMP_ACT_TRAP": return cseccomp_act_trap()
        case "SCMP_ACT_TRACE": return cseccomp_act_trace(UInt16(truncatingIfNeeded: errno ?? UInt32(EPERM)))
        case "SCMP_ACT_LOG": return cseccomp_act_log()
        default: throw SeccompError.unknownAction(name)
        }
    }

    static func condition(_ arg: SeccompProfile.Argument) throws -> scmp_arg_cmp {
        guard arg.index < 6 else { throw SeccompError.argumentIndex(arg.index) }
        let op: scmp_compare
        switch arg.op {
        case "SCMP_CMP_NE": op = SCMP_CMP_NE
        case "SCMP_CMP_LT": op = SCMP_CMP_LT
        case "SCMP_CMP_LE": op = SCMP_CMP_LE
        case "SCMP_CMP_EQ": op = SCMP_CMP_EQ
        case "SCMP_CMP_GE": op = SCMP_CMP_GE
        case "SCMP_CMP_GT": op = SCMP_CMP_GT
        // value is the mask, valueTwo what the masked argument must equal.
        case "SCMP_CMP_MASKED_EQ": op = SCMP_CMP_MASKED_EQ
        default: throw SeccompError.unknownOperator(arg.op)
        }
        return scmp_arg_cmp(arg: arg.index, op: op, datum_a: arg.value, datum_b: arg.valueTwo ?? 0)
    }

    /// libseccomp's token for `SCMP_ARCH_X86_64` and the like.
    static func architecture(_ name: String) throws -> UInt32 {
        var token = name.lowercased()
        if token.hasPrefix("scmp_arch_") { token.removeFirst("scmp_arch_".count) }
        let arch = seccomp_arch_resolve_name(token)
        guard arch != 0 else { throw SeccompError.unknownArchitecture(name) }
        return arch
    }

    /// OCI's `architectures`, or the native one's entry of Docker's `archMap`.
    static func architectures(_ profile: SeccompProfile) throws -> [UInt32] {
        if let list = profile.architectures, !list.isEmpty { return try list.map(architecture) }
        let native = cseccomp_arch_native()
        for entry in profile.archMap ?? [] where try architecture(entry.architecture) == native {
            return try [native] + (entry.subArchitectures ?? []).map(architecture)
        }
        return [native]
    }

    static func applies(_ rule: SeccompProfile.Rule, capabilities: Set<String>, machine: Machine) -> Bool {
        if let inc = rule.includes {
            if let caps = inc.caps, !caps.allSatisfy({ capabilities.contains($0.uppercased()) }) { return false }
            if let arches = inc.arches, !arches.contains(machine.goArch) { return false }
            if let min = inc.minKernel, !machine.kernelAtLeast(min) { return false }
        }
        if let exc = rule.excludes {
            if let caps = exc.caps, caps.contains(where: { capabilities.contains($0.uppercased()) }) { return false }
            if let arches = exc.arches, arches.contains(machine.goArch) { return false }
            if let min = exc.minKernel, machine.kernelAtLeast(min) { return false }
        }
        return true
    }

    /// What `includes`/`excludes` compare with.
    struct Machine {
        /// Go's name of the architecture, as profiles write it.
        var goArch: String
        var kernel: (Int, Int)

        static var current: Machine {
            var u = utsname()
            uname(&u)
            let machine = withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let goArch = ["x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386",
                          "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"][machine] ?? machine
            return Machine(goArch: goArch, kernel: version(release) ?? (0, 0))
        }

        func kernelAtLeast(_ text: String) -> Bool {
            guard let wanted = Self.version(text) else { return false }
            return kernel >= wanted
        }

        static func version(_ text: String) -> (Int, Int)? {
            let parts = text.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
            guard parts.count == 2 else { return nil }
            return (parts[0], parts[1])
        }
    }
}
