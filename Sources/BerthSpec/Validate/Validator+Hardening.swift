import Glibc

/// `security`, `devices`, `sysctls`, `ulimits`, `noNewPrivileges`.
extension Validator {
    static let hardeningKeys = ["security", "devices", "sysctls", "ulimits", "noNewPrivileges"]
    /// Larger seccomp profiles are refused unread (Docker's is about 20 KB).
    static let maxProfileSize = 1 << 20

    func checkHardening(_ fields: Fields, path: String, into container: inout Container) {
        let namespaces = Set(container.namespaces)
        func at(_ key: String) -> (YAMLNode, String)? { fields[key].map { ($0.value, join(path, key)) } }
        if let (node, p) = at("security") { container.security = checkSecurity(node, p) }
        if let (node, p) = at("devices") { container.devices = checkDevices(node, p) }
        if let (node, p) = at("sysctls") { container.sysctls = checkSysctls(node, p, namespaces: namespaces) }
        if let (node, p) = at("ulimits") { container.ulimits = checkUlimits(node, p) }
        if let (node, p) = at("noNewPrivileges") { container.noNewPrivileges = bool(node, p) ?? true }
    }

    // MARK: - security

    func checkSecurity(_ node: YAMLNode, _ path: String) -> Security {
        var security = Security()
        guard let fields = fields(of: node, path: path, known: ["seccomp"], what: "security settings") else {
            return security
        }
        if let e = fields["seccomp"], let text = string(e.value, join(path, "seccomp")) {
            let p = join(path, "seccomp")
            switch text {
            case "default": security.seccomp = .default
            case "unconfined": security.seccomp = .unconfined
            case "": error(e.value.location, p, "is empty", hint: "use default, unconfined or the path of a JSON profile")
            default:
                let file = Paths.resolve(text, against: baseDirectory)
                if let profile = checkProfileFile(file, written: text, at: e.value.location, p) {
                    security.seccomp = .file(path: file, profile: profile)
                }
            }
        }
        return security
    }

    /// Reads and checks a profile in the Docker/OCI format; its problems are reported at
    /// their place in the profile file. Returns its text.
    func checkProfileFile(_ file: String, written: String, at location: SourceLocation, _ path: String) -> String? {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            error(location, path, "cannot read the seccomp profile \(quoted(written)): \(reason)",
                  hint: "use default, unconfined or the path of a JSON profile (relative to the spec file)")
            return nil
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > Validator.maxProfileSize {
                error(location, path, "the seccomp profile \(quoted(written)) is larger than 1 MiB")
                return nil
            }
        }
        // JSON is YAML: the same parser gives every value its line and column.
        let parsed = YAMLParser.parse(bytes, file: written)
        let profile = Validator(file: written, baseDirectory: baseDirectory, defaultProject: nil)
        if let root = parsed.root, parsed.diagnostics.isEmpty {
            profile.checkSeccompProfile(root)
        }
        let problems = parsed.diagnostics + profile.diagnostics
        guard problems.isEmpty else {
            absorb(problems)
            return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static let seccompActions = [
        "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG",
    ]
    static let seccompOperators = [
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
    ]

    /// The structure of a profile: what berth's compiler reads, with the same rules.
    func checkSeccompProfile(_ root: YAMLNode) {
        let keys = ["defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", "flags",
                    "listenerPath", "listenerMetadata", "comment"]
        guard let fields = fields(of: root, path: "", known: keys, what: "a seccomp profile") else { return }
        if let e = fields["defaultAction"] {
            checkAction(e.value, "defaultAction")
        } else {
            error(root.location, "", "missing \"defaultAction\"", hint: "add e.g. \"defaultAction\": \"SCMP_ACT_ERRNO\"")
        }
        if let e = fields["defaultErrnoRet"] { _ = integer(e.value, "defaultErrnoRet", in: 0...4095) }
        if let e = fields["architectures"], let items = sequence(e.value, "architectures", example: "[\"SCMP_ARCH_X86_64\"]") {
            for (i, item) in items.enumerated() { checkArchitecture(item, "architectures[\(i)]") }
        }
        if let e = fields["archMap"], let items = sequence(e.value, "archMap", example: "[{\"architecture\": ...}]") {
            for (i, item) in items.enumerated() {
                let p = "archMap[\(i)]"
                guard let f = self.fields(of: item, path: p, known: ["architecture", "subArchitectures"], what: "an archMap entry") else { continue }
                if let a = f["architecture"] { checkArchitecture(a.value, join(p, "architecture")) } else { error(item.location, p, "missing \"architecture\"") }
                if let s = f["subArchitectures"], s.value.scalar?.kind != .null,
                   let subs = sequence(s.value, join(p, "subArchitectures"), example: "[\"SCMP_ARCH_X86\"]") {
                    for (j, sub) in subs.enumerated() { checkArchitecture(sub, join(p, "subArchitectures[\(j)]")) }
                }
            }
        }
        if let e = fields["syscalls"], e.value.scalar?.kind != .null,
           let rules = sequence(e.value, "syscalls", example: "[{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\"}]") {
            for (i, rule) in rules.enumerated() { checkSyscallRule(rule, "syscalls[\(i)]") }
        }
    }

    private func checkSyscallRule(_ node: YAMLNode, _ p: String) {
        let keys = ["names", "name", "action", "errnoRet", "args", "includes", "excludes", "comment"]
        guard let f = fields(of: node, path: p, known: keys, what: "a syscall rule") else { return }
        if let e = f["names"], let names = sequence(e.value, join(p, "names"), example: "[\"mkdir\"]") {
            for (j, name) in names.enumerated() { _ = string(name, join(p, "names[\(j)]")) }
        } else if let e = f["name"] {
            _ = string(e.value, join(p, "name"))
        } else if f["names"] == nil {
            error(node.location, p, "missing \"names\"", hint: "add e.g. \"names\": [\"mkdir\"]")
        }
        if let e = f["action"] { checkAction(e.value, join(p, "action")) } else {
            error(node.location, p, "missing \"action\"", hint: "add e.g. \"action\": \"SCMP_ACT_ERRNO\"")
        }
        if let e = f["errnoRet"] { _ = integer(e.value, join(p, "errnoRet"), in: 0...4095) }
        if let e = f["args"], e.value.scalar?.kind != .null,
           let args = sequence(e.value, join(p, "args"), example: "[{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]") {
            for (j, arg) in args.enumerated() {
                let ap = join(p, "args[\(j)]")
                guard let a = fields(of: arg, path: ap, known: ["index", "value", "valueTwo", "op"], what: "an argument filter") else { continue }
                if let e = a["index"] { _ = integer(e.value, join(ap, "index"), in: 0...5) } else { error(arg.location, ap, "missing \"index\"") }
                if let e = a["value"] { checkArgumentValue(e.value, join(ap, "value")) } else { error(arg.location, ap, "missing \"value\"") }
                if let e = a["valueTwo"] { checkArgumentValue(e.value, join(ap, "valueTwo")) }
                if let e = a["op"] {
                    if let op = string(e.value, join(ap, "op")), !Validator.seccompOperators.contains(op) {
                        error(e.value.location, join(ap, "op"), "\(quoted(op)) is not a comparison operator",
                              hint: Suggestions.hint(for: op, among: Validator.seccompOperators)
                                ?? "use one of: \(Validator.seccompOperators.joined(separator: ", "))")
                    }
                } else {
                    error(arg.location, ap, "missing \"op\"")
                }
            }
        }
        for key in ["includes", "excludes"] {
            guard let e = f[key] else { continue }
            let fp = join(p, key)
            guard let g = fields(of: e.value, path: fp, known: ["caps", "arches", "minKernel"], what: "a rule filter") else { continue }
            if let c = g["caps"], let caps = sequence(c.value, join(fp, "caps"), example: "[\"CAP_SYS_ADMIN\"]") {
                for (j, cap) in caps.enumerated() {
                    let cp = join(fp, "caps[\(j)]")
                    if let name = string(cap, cp), Capability.canonicalName(name) == nil {
                        error(cap.location, cp, "\(quoted(name)) is not a Linux capability")
                    }
                }
            }
            if let a = g["arches"], let arches = sequence(a.value, join(fp, "arches"), example: "[\"amd64\"]") {
                for (j, arch) in arches.enumerated() { _ = string(arch, join(fp, "arches[\(j)]")) }
            }
            if let m = g["minKernel"], let text = string(m.value, join(fp, "minKernel")) {
                let parts = text.split(separator: ".")
                if parts.count < 2 || parts.prefix(2).contains(where: { Int($0) == nil }) {
                    error(m.value.location, join(fp, "minKernel"), "\(quoted(text)) is not a kernel version", hint: "write e.g. \"4.8\"")
                }
            }
        }
    }

    private func checkAction(_ node: YAMLNode, _ p: String) {
        guard let action = string(node, p) else { return }
        if !Validator.seccompActions.contains(action) {
            error(node.location, p, "\(quoted(action)) is not a seccomp action",
                  hint: Suggestions.hint(for: action, among: Validator.seccompActions)
                    ?? "use one of: \(Validator.seccompActions.joined(separator: ", "))")
        }
    }

    private func checkArchitecture(_ node: YAMLNode, _ p: String) {
        guard let arch = string(node, p) else { return }
        if !arch.hasPrefix("SCMP_ARCH_") {
            error(node.location, p, "\(quoted(arch)) is not a seccomp architecture", hint: "write e.g. SCMP_ARCH_X86_64")
        }
    }

    private func checkArgumentValue(_ node: YAMLNode, _ p: String) {
        guard let s = node.scalar, s.kind == .int, !s.value.hasPrefix("-"), UInt64(s.value) != nil || s.intValue != nil else {
            error(node.location, p, "must be a whole number from 0 to 2^64-1, found \(node.kindDescription)")
            return
        }
    }

    // MARK: - devices

    func checkDevices(_ node: YAMLNode, _ path: String) -> [DeviceAccess] {
        guard let items = sequence(node, path, example: "[{path: /dev/fuse, access: rwm}]") else { return [] }
        var out: [DeviceAccess] = []
        var seen: [String: SourceLocation] = [:]
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            var device: DeviceAccess?
            var pathNode = item
            if item.scalar != nil {
                device = devicePath(item, p).map { DeviceAccess(path: $0) }
            } else if let f = fields(of: item, path: p, known: ["path", "access"], what: "a device") {
                if let e = f["path"] {
                    pathNode = e.value
                    device = devicePath(e.value, join(p, "path")).map { DeviceAccess(path: $0) }
                } else {
                    error(item.location, p, "missing \"path\"", hint: "add e.g. `path: /dev/fuse`")
                }
                if let e = f["access"], let access = string(e.value, join(p, "access")) {
                    if access.isEmpty || !access.allSatisfy({ "rwm".contains($0) }) || Set(access).count != access.count {
                        error(e.value.location, join(p, "access"), "\(quoted(access)) is not a device access",
                              hint: "use some of r (read), w (write), m (mknod), e.g. rw")
                        device = nil
                    } else {
                        device?.access = String("rwm".filter { access.contains($0) })
                    }
                }
            }
            guard let device else { continue }
            if let first = seen[device.path] {
                error(pathNode.location, p, "\(device.path) is listed twice (first at line \(first.line))")
                continue
            }
            seen[device.path] = pathNode.location
            out.append(device)
        }
        return out
    }

    private func devicePath(_ node: YAMLNode, _ p: String) -> String? {
        guard let text = absolutePath(node, p) else { return nil }
        guard text.hasPrefix("/dev/"), text.count > 5 else {
            error(node.location, p, "\(quoted(text)) is not under /dev", hint: "name a device node such as /dev/fuse")
            return nil
        }
        return text
    }

    // MARK: - sysctls

    func checkSysctls(_ node: YAMLNode, _ path: String, namespaces: Set<Namespace>) -> [SysctlSetting] {
        guard let entries = mapping(node, path, what: "a mapping of kernel parameters to values") else { return [] }
        var out: [SysctlSetting] = []
        for entry in entries {
            let name = entry.key.value
            if Validator.isExtension(name) { continue }
            let p = join(path, name)
            let valid = !name.isEmpty && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
                !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
            }
            guard valid else {
                error(entry.key.location, p, "\(quoted(name)) is not a kernel parameter name", hint: "write it with dots, e.g. net.ipv4.ip_forward")
                continue
            }
            guard let namespace = SysctlSetting.namespace(of: name) else {
                error(entry.key.location, p, "\(quoted(name)) is not namespaced: setting it would change the host",
                      hint: "only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* can be set per container")
                continue
            }
            guard namespaces.contains(namespace) else {
                error(entry.key.location, p, "\(quoted(name)) belongs to the \(namespace.rawValue) namespace, which this container shares with the host",
                      hint: "add \(namespace.rawValue) to namespaces")
                continue
            }
            guard let value = text(entry.value, p) else { continue }
            if value.contains("\n") {
                error(entry.value.location, p, "the value holds a line break")
                continue
            }
            out.append(SysctlSetting(name: name, value: value))
        }
        return out.sorted { $0.name < $1.name }
    }

    // MARK: - ulimits

    func checkUlimits(_ node: YAMLNode, _ path: String) -> [Ulimit] {
        guard let entries = mapping(node, path, what: "a mapping of resource names to limits") else { return [] }
        var out: [Ulimit] = []
        for entry in entries {
            let name = entry.key.value
            if Validator.isExtension(name) { continue }
            let p = join(path, name)
            guard Ulimit.names.contains(name) else {
                error(entry.key.location, p, "\(quoted(name)) is not a resource limit",
                      hint: Suggestions.hint(for: name, among: Ulimit.names) ?? "use one of: \(Ulimit.names.joined(separator: ", "))")
                continue
            }
            if entry.value.scalar != nil {
                if let v = limitValue(entry.value, p) { out.append(Ulimit(name: name, soft: v, hard: v)) }
                continue
            }
            guard let f = fields(of: entry.value, path: p, known: ["soft", "hard"], what: "a limit") else { continue }
            guard let s = f["soft"], let h = f["hard"] else {
                error(entry.value.location, p, "needs both \"soft\" and \"hard\"", hint: "or write one number for both")
                continue
            }
            guard let soft = limitValue(s.value, join(p, "soft")), let hard = limitValue(h.value, join(p, "hard")) else { continue }
            guard soft <= hard else {
                error(s.value.location, join(p, "soft"), "the soft limit is above the hard limit")
                continue
            }
            out.append(Ulimit(name: name, soft: soft, hard: hard))
        }
        return out.sorted { $0.name < $1.name }
    }

    private func limitValue(_ node: YAMLNode, _ p: String) -> UInt64? {
        if let s = node.scalar, s.kind == .string, s.value == "unlimited" { return Ulimit.unlimited }
        guard let s = node.scalar, s.kind == .int, let v = s.intValue, v >= 0 else {
            error(node.location, p, "must be a whole number of 0 or more, or \"unlimited\", found \(node.kindDescription)")
            return nil
        }
        return UInt64(v)
    }
}
