import FoundationEssentials
import SystemPackage
import BerthSpec

extension Conversion {
    /// Keys whose berth counterpart is not on this version yet, with what to say.
    /// Keys berth has no counterpart for, with what berth does instead.
    static let unmapped: [String: String] = [
        "expose": "not needed: containers on a network reach each other's ports (export reads the image's ExposedPorts)",
        "extra_hosts": "berth writes /etc/hosts itself (the project's containers); extra entries are not added",
        "labels": "berth has no labels; the project and container names identify everything",
        "container_name": "the key under containers: is the container's name",
        "profiles": "berth has no profiles: the service is imported and runs with the others",
        "privileged": "berth does not run privileged containers; add the capabilities (and devices) it needs instead",
        "init": "not needed: berth init is always the container's PID 1",
        "stdin_open": "not mapped: use `berth exec -it` for an interactive process",
        "tty": "not mapped: use `berth exec -it` for an interactive process",
        "pid": "not mapped: the container gets its own PID namespace",
        "ipc": "not mapped: the container gets its own IPC namespace",
        "links": "not needed: containers of a network find each other by name",
        "secrets": "berth has no secrets; bind-mount the file read-only instead",
        "configs": "berth has no configs; bind-mount the file read-only instead",
        "platform": "berth runs images of the host's platform",
        "scale": "berth runs one container per name",
        "cgroup_parent": "berth's containers live under its own cgroup",
        "oom_score_adj": "not mapped: the kernel's default applies",
        "shm_size": "not mapped: mount a tmpfs at /dev/shm instead (mounts: [{type: tmpfs, target: /dev/shm, size: ...}])",
        "mac_address": "berth derives MAC addresses itself",
        "domainname": "not mapped: the container's hostname is its only name (write a dotted hostname instead)",
        "userns_mode": "not mapped: give the container `user` in namespaces and a userns mapping",
        "group_add": "not mapped: supplementary groups come from the container's /etc/group",
        "develop": "berth does not watch files: apply again after a change",
    ]

    mutating func service(_ entry: YAMLNode.Entry, name: String) -> YAMLOut {
        let path = "services.\(entry.key.value)"
        var fields: [(key: String, value: YAMLOut, comment: String?)] = []
        var resources: [(key: String, value: YAMLOut, comment: String?)] = []
        var mounts: [YAMLOut] = []
        var env: [(String, String)] = []
        var networks: YAMLOut?
        var namespaces: [String]?
        var hasImage = false
        var capAdd: [String] = [], capDrop: [String] = []
        var ports: [(String, YAMLNode)] = []
        var sysctlsNode: (YAMLNode, String)?
        var hasRestart = false
        guard let entries = entry.value.entries else {
            warn(entry.value, path, "a service is a mapping; found \(entry.value.kindDescription)")
            return .map([("image", .string(name), "Not converted: see the warnings.")])
        }
        func node(_ key: String) -> YAMLNode? { entries.first { $0.key.value == key }?.value }

        for field in entries {
            let key = field.key.value, p = "\(path).\(key)", v = field.value
            switch key {
            case _ where key.hasPrefix("x-"):
                continue
            case "image":
                if let image = text(v, p) {
                    if (try? ImageReference(parsing: image)) == nil {
                        warn(v, p, "\(quoted(image)) is not an image reference berth reads; kept as written")
                    }
                    fields.append(("image", .string(image), nil)); hasImage = true
                }
            case "command":
                if let argv = words(v, p) { fields.append(("command", .flow(argv), nil)) }
            case "entrypoint":
                if let argv = words(v, p) { fields.append(("entrypoint", .flow(argv), nil)) }
            case "environment":
                for (k, value, n) in keyValues(v, p) {
                    if let value { env.append((k, value)) } else if let fromHost = interpolation.environment[k] {
                        env.append((k, fromHost))
                    } else {
                        warn(n, "\(p).\(k)", "unset in this environment, so left out (Compose does the same)")
                    }
                }
            case "env_file":
                for (i, f) in (v.items ?? [v]).enumerated() {
                    let fp = v.items == nil ? p : "\(p)[\(i)]"
                    guard let fileName = text(f["path"] ?? f, fp) else { continue }
                    let required = f["required"]?.scalar?.boolValue ?? true
                    let full = fileName.hasPrefix("/") ? fileName : directory + "/" + fileName
                    if let contents = try? String(contentsOfFile: full, encoding: .utf8) {
                        for (k, value) in Interpolation.parseEnvFile(contents) where !env.contains(where: { $0.0 == k }) {
                            env.append((k, value))
                        }
                    } else if required {
                        errors.append(Diagnostic(file: file, location: f.location, path: fp, message: "cannot read the env file \(full)"))
                    }
                }
            case "working_dir":
                if let t = text(v, p) { fields.append(("workdir", .string(t), nil)) }
            case "user":
                if let t = text(v, p) {
                    if (try? User(parsing: t)) == nil { warn(v, p, "\(quoted(t)) is not a user berth reads; left out") }
                    else { fields.append(("user", .string(t), nil)) }
                }
            case "hostname":
                if let t = text(v, p) { fields.append(("hostname", .string(t), nil)) }
            case "read_only":
                if let b = v.scalar?.boolValue { fields.append(("readOnlyRootfs", .raw(b ? "true" : "false"), nil)) }
            case "cap_add", "cap_drop":
                for (i, item) in (v.items ?? []).enumerated() {
                    guard let t = text(item, "\(p)[\(i)]") else { continue }
                    let canonical = t.uppercased() == "ALL" ? "ALL" : Capability.canonicalName(t)
                    guard let canonical else { warn(item, "\(p)[\(i)]", "\(quoted(t)) is not a capability; left out"); continue }
                    let short = canonical.hasPrefix("CAP_") ? String(canonical.dropFirst(4)) : canonical
                    if key == "cap_add" { capAdd.append(short) } else { capDrop.append(short) }
                }
            case "dns":
                let servers = (v.items ?? [v]).compactMap { text($0, p) }
                let v4 = servers.filter { IPv4Address($0) != nil }
                if v4.count < servers.count { warn(v, p, "berth writes IPv4 name servers only; others left out") }
                if !v4.isEmpty { fields.append(("dns", .flow(Array(v4.prefix(3))), nil)) }
            case "restart":
                hasRestart = true
                if let t = text(v, p) {
                    switch t {
                    case "no": fields.append(("restart", .string("never"), nil))
                    case "always": fields.append(("restart", .string("always"), nil))
                    case "unless-stopped":
                        fields.append(("restart", .string("always"), nil))
                        warn(v, p, "unless-stopped: berth restarts it like always (a container stops when it leaves the spec)")
                    case _ where t.hasPrefix("on-failure"):
                        fields.append(("restart", .string("on-failure"), nil))
                        if t != "on-failure" { warn(v, p, "berth has no retry limit; it backs off between restarts instead") }
                    default: warn(v, p, "\(quoted(t)) is not a restart policy; left out")
                    }
                }
            case "stop_signal":
                if let t = text(v, p) {
                    if Signal.named(t) != nil { fields.append(("stopSignal", .string(t), nil)) }
                    else { warn(v, p, "\(quoted(t)) is not a signal berth knows; left out") }
                }
            case "stop_grace_period":
                if let t = text(v, p) {
                    if let span = duration(t) { fields.append(("stopTimeout", .string(span), nil)) }
                    else { warn(v, p, "\(quoted(t)) is not a duration berth reads; left out") }
                }
            case "mem_limit":
                if let t = text(v, p), let s = size(t, v, p) { resources.append(("memory", .string(s), nil)) }
            case "memswap_limit":
                if let t = text(v, p) { memorySwap(t, v, p, limit: node("mem_limit").flatMap { $0.scalar?.value }, into: &resources) }
            case "cpus":
                if let t = text(v, p), let c = cpus(t, v, p) { resources.append(("cpus", .raw(c), nil)) }
            case "cpuset":
                if let t = text(v, p) {
                    if (try? CPUSet(parsing: t)) != nil { resources.append(("cpuset", .string(t), nil)) }
                    else { warn(v, p, "\(quoted(t)) is not a CPU list; left out") }
                }
            case "cpu_shares":
                if let t = text(v, p), let shares = Int(t), shares >= 2 {
                    // The kernel's conversion from v1 shares to the v2 weight (as runc does).
                    let weight = 1 + ((min(shares, 262_144) - 2) * 9999) / 262_142
                    resources.append(("cpuWeight", .raw(String(weight)), "From cpu_shares \(shares)."))
                } else { warn(v, p, "not a number of shares (2 or more); left out") }
            case "pids_limit":
                if let t = text(v, p), let n = Int(t) {
                    if n > 0 { resources.append(("pids", .raw(String(n)), nil)) }
                    else { warn(v, p, "\(n): no limit in berth is written by leaving pids out") }
                }
            case "deploy":
                deploy(v, p, into: &resources)
            case "tmpfs":
                for (i, item) in (v.items ?? [v]).enumerated() {
                    guard let t = text(item, v.items == nil ? p : "\(p)[\(i)]") else { continue }
                    mounts.append(tmpfs(t, item, p))
                }
            case "volumes":
                for (i, item) in (v.items ?? []).enumerated() {
                    if let m = volume(item, "\(p)[\(i)]", service: name, index: i) { mounts.append(m) }
                }
            case "networks":
                networks = serviceNetworks(v, p)
            case "network_mode":
                if let t = text(v, p) {
                    switch t {
                    case "host":
                        namespaces = ["uts", "ipc", "pid", "mount"]
                    case "none":
                        networks = .map([])
                    default:
                        warn(v, p, "\(quoted(t)): berth cannot share another container's network namespace; it gets its own")
                    }
                }
            case "logging":
                logging(v, p, into: &fields)
            case "ports":
                for (i, item) in (v.items ?? []).enumerated() {
                    if let port = port(item, "\(p)[\(i)]") { ports.append((port, item)) }
                }
                if v.items == nil { warn(v, p, "expected a list, found \(v.kindDescription); left out") }
            case "depends_on":
                if let deps = dependsOn(v, p, service: entry.key.value, facts: facts) { fields.append(("dependsOn", deps, nil)) }
            case "healthcheck":
                if let check = healthcheck(v, p) {
                    fields.append(("healthcheck", check, "berth restarts a container that turns unhealthy (Compose only reports it); onUnhealthy: none reports only."))
                }
            case "sysctls":
                sysctlsNode = (v, p)
            case "ulimits":
                if let limits = ulimits(v, p) { fields.append(("ulimits", limits, nil)) }
            case "devices":
                let list = devices(v, p)
                if !list.isEmpty { fields.append(("devices", .list(list), nil)) }
            case "security_opt":
                securityOptions(v, p, into: &fields)
            case "pull_policy":
                if let pull = pullPolicy(v, p) { fields.append(("pull", .string(pull), nil)) }
            case "build":
                if node("image") == nil {
                    fields.append(("image", .string("\(name):latest"), "Built by Compose from `build:`; build and push it elsewhere."))
                    hasImage = true
                }
                warn(key: field.key, p, "berth does not build images: build it elsewhere and name it in image:")
            default:
                if let why = Self.unmapped[key] {
                    warn(key: field.key, p, why)
                } else {
                    warn(key: field.key, p, "unknown key, left out")
                }
            }
        }
        if let node = sysctlsNode, let settings = sysctls(node.0, node.1, hostNetwork: namespaces != nil) {
            fields.append(("sysctls", settings, nil))
        }
        if !ports.isEmpty {
            var noNetwork = namespaces != nil
            if case .map(let attached)? = networks, attached.isEmpty { noNetwork = true }
            if noNetwork {
                for (_, item) in ports {
                    warn(item, "\(path).ports", "the container has no network of its own (network_mode), so nothing is published; left out")
                }
            } else {
                fields.append(("ports", .flow(ports.map(\.0)), nil))
            }
        }
        if !hasRestart, let waiters = facts[entry.key.value]?.completionWaiters, !waiters.isEmpty {
            fields.append(("restart", .string("never"), "Compose's default (no): \(waiters.joined(separator: ", ")) wait\(waiters.count == 1 ? "s" : "") for it to complete."))
        }
        if !hasImage {
            warn(entry.value, path, "neither image nor build: berth needs an image (or a rootfs directory)")
            fields.insert(("image", .string(name), "No image in the Compose file: name one."), at: 0)
        }
        if !env.isEmpty {
            var seen: Set<String> = []
            let unique = env.reversed().filter { seen.insert($0.0).inserted }.reversed()
            fields.append(("env", .map(unique.map { ($0.0, .string($0.1), nil) }), nil))
        }
        if let namespaces {
            fields.append(("namespaces", .flow(namespaces), "network_mode: host: without its own network namespace the container shares the host's."))
        } else if let networks {
            fields.append(("networks", networks, nil))
        } else {
            usesDefaultNetwork = true
            fields.append(("networks", .map([("default", .map([]), nil)]), nil))
        }
        if !resources.isEmpty { fields.append(("resources", .map(resources), nil)) }
        if !capAdd.isEmpty || !capDrop.isEmpty {
            var caps: [(key: String, value: YAMLOut, comment: String?)] = []
            if !capAdd.isEmpty { caps.append(("add", .flow(capAdd), nil)) }
            if !capDrop.isEmpty { caps.append(("drop", .flow(capDrop), nil)) }
            fields.append(("capabilities", .map(caps), nil))
        }
        if !mounts.isEmpty { fields.append(("mounts", .list(mounts), nil)) }
        return .map(orderedForBerth(fields))
    }

    /// berth's own order of container keys, so that every converted container reads alike.
    func orderedForBerth(_ fields: [(key: String, value: YAMLOut, comment: String?)]) -> [(key: String, value: YAMLOut, comment: String?)] {
        let order = ["image", "pull", "entrypoint", "command", "env", "workdir", "user", "hostname", "namespaces", "networks",
                     "ports", "dns", "dependsOn", "healthcheck", "resources", "restart", "stopSignal", "stopTimeout",
                     "readOnlyRootfs", "capabilities", "security", "noNewPrivileges", "devices", "sysctls", "ulimits",
                     "mounts", "logging"]
        return fields.enumerated().sorted { a, b in
            let ia = order.firstIndex(of: a.element.key) ?? order.count, ib = order.firstIndex(of: b.element.key) ?? order.count
            return ia != ib ? ia < ib : a.offset < b.offset
        }.map(\.element)
    }

    // MARK: - Values

    mutating func size(_ t: String, _ node: YAMLNode, _ path: String) -> String? {
        guard (try? ByteSize(parsing: t)) != nil else {
            warn(node, path, "\(quoted(t)) is not a size berth reads; left out")
            return nil
        }
        return t
    }

    mutating func cpus(_ t: String, _ node: YAMLNode, _ path: String) -> String? {
        guard let amount = try? CPUAmount(parsing: t) else {
            warn(node, path, "\(quoted(t)) is not a CPU amount berth reads (more than 0, at most 3 decimals); left out")
            return nil
        }
        return CPUAmount.format(amount.millicores)
    }

    /// Compose durations (`1m30s`, `10s`, `1.5s`, `500ms`) in berth's form.
    func duration(_ t: String) -> String? {
        if let span = try? TimeSpan(parsing: t) { return span.text }
        // Compose (Go's time.ParseDuration) also takes fractions: 1.5s, 0.5m.
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (unit, ms) in units where t.hasSuffix(unit) {
            if let n = Double(t.dropLast(unit.count)), n >= 0 { return TimeSpan.format(Int((n * ms).rounded())) }
        }
        return nil
    }

    mutating func memorySwap(_ t: String, _ node: YAMLNode, _ path: String, limit: String?,
                             into resources: inout [(key: String, value: YAMLOut, comment: String?)]) {
        // Compose's memswap_limit is memory + swap; berth's memorySwap is the swap beyond memory.
        guard let limit, let memory = try? ByteSize(parsing: limit), let total = try? ByteSize(parsing: t) else {
            warn(node, path, "memswap_limit without a mem_limit berth reads: left out")
            return
        }
        guard total.bytes >= memory.bytes else {
            warn(node, path, "less than mem_limit: left out")
            return
        }
        resources.append(("memorySwap", .string(ByteSize.format(total.bytes - memory.bytes)), "memswap_limit \(t) minus mem_limit \(limit)."))
    }

    mutating func deploy(_ v: YAMLNode, _ p: String, into resources: inout [(key: String, value: YAMLOut, comment: String?)]) {
        for option in v.entries ?? [] {
            let key = option.key.value, op = "\(p).\(key)"
            switch key {
            case "resources":
                for part in option.value.entries ?? [] {
                    let pp = "\(op).\(part.key.value)"
                    if part.key.value == "limits" {
                        for limit in part.value.entries ?? [] {
                            let lp = "\(pp).\(limit.key.value)"
                            guard let t = text(limit.value, lp) else { continue }
                            switch limit.key.value {
                            case "cpus": if let c = cpus(t, limit.value, lp) { resources.append(("cpus", .raw(c), nil)) }
                            case "memory": if let s = size(t, limit.value, lp) { resources.append(("memory", .string(s), nil)) }
                            case "pids": if let n = Int(t), n > 0 { resources.append(("pids", .raw(String(n)), nil)) }
                            default: warn(key: limit.key, lp, "berth limits cpus, memory and pids here; left out")
                            }
                        }
                    } else if part.key.value == "reservations" {
                        warn(key: part.key, pp, "berth sets limits, not reservations; left out")
                    } else {
                        warn(key: part.key, pp, "berth sets limits only; left out")
                    }
                }
            case "replicas":
                if text(option.value, op) != "1" { warn(option.value, op, "berth runs one container per name") }
            case "restart_policy":
                warn(key: option.key, op, "use the service's restart: berth maps that")
            default:
                warn(key: option.key, op, "not mapped (a swarm setting)")
            }
        }
    }

    /// `/run` or `/run:size=64m,mode=1777`.
    mutating func tmpfs(_ t: String, _ node: YAMLNode, _ p: String) -> YAMLOut {
        let parts = t.split(separator: ":", maxSplits: 1)
        var fields: [(key: String, value: YAMLOut, comment: String?)] = [("type", .string("tmpfs"), nil), ("target", .string(String(parts[0])), nil)]
        if parts.count == 2 {
            for option in parts[1].split(separator: ",") {
                if option.hasPrefix("size="), let s = size(String(option.dropFirst(5)), node, p) {
                    fields.append(("size", .string(s), nil))
                } else if option == "ro" {
                    fields.append(("readOnly", .raw("true"), nil))
                } else {
                    warn(node, p, "tmpfs option \(option) is not mapped")
                }
            }
        }
        return .map(fields)
    }

    /// A service's `volumes:` entry, short (`src:dst[:ro]`) or long syntax.
    mutating func volume(_ item: YAMLNode, _ p: String, service: String, index: Int) -> YAMLOut? {
        var type: String?, source: String?, target: String?, readOnly = false, size: String?
        if item.entries != nil {
            for field in item.entries ?? [] {
                let fp = "\(p).\(field.key.value)"
                switch field.key.value {
                case "type": type = text(field.value, fp)
                case "source": source = text(field.value, fp)
                case "target": target = text(field.value, fp)
                case "read_only": readOnly = field.value.scalar?.boolValue ?? false
                case "tmpfs": if let s = field.value["size"], let t = text(s, "\(fp).size") { size = self.size(t, s, "\(fp).size") }
                case "volume":
                    if field.value["nocopy"]?.scalar?.boolValue == true { warn(field.value, fp, "nocopy: berth seeds an empty volume from the image") }
                case "bind":
                    if field.value["create_host_path"] != nil { warn(field.value, fp, "berth never creates a bind source: it must exist") }
                default: warn(key: field.key, fp, "berth mounts take type, source, target, read_only and tmpfs.size; left out")
                }
            }
        } else if let t = text(item, p) {
            let parts = t.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            switch parts.count {
            case 1: target = parts[0]
            case 2: (source, target) = (parts[0], parts[1])
            default:
                (source, target) = (parts[0], parts[1])
                for option in parts[2].split(separator: ",") {
                    if option == "ro" { readOnly = true } else if option != "rw" { warn(item, p, "volume option \(option) is not mapped") }
                }
            }
            if let s = source { type = s.hasPrefix("/") || s.hasPrefix(".") || s.hasPrefix("~") ? "bind" : "volume" }
            else { type = "volume" }
        } else {
            return nil
        }
        guard let target, target.hasPrefix("/") else {
            warn(item, p, "a volume needs an absolute target; left out")
            return nil
        }
        var fields: [(key: String, value: YAMLOut, comment: String?)] = []
        switch type ?? "volume" {
        case "bind":
            guard var source else { warn(item, p, "a bind mount needs a source; left out"); return nil }
            if source.hasPrefix("~") {
                warn(item, p, "~ is not expanded by berth: taken relative to the Compose file's directory instead")
                source = "." + source.dropFirst()
            }
            // Relative to the Compose file: made absolute, so the spec means the same wherever it is written.
            if !source.hasPrefix("/") {
                source = FilePath(directory).appending(source).lexicallyNormalized().string
            }
            fields = [("source", .string(source), nil), ("target", .string(target), nil)]
        case "volume":
            let name: String
            if let source {
                if let declared = volumeNames[source] { name = declared } else {
                    warn(item, p, "volume \(quoted(source)) is not declared under the top-level volumes:; declared by the import")
                    name = berthName(source)
                    volumeNames[source] = name
                    extraVolumes.append(name)
                }
            } else {
                name = "\(service)-\(index)"
                warn(item, p, "an anonymous volume: berth names it \(name), and keeps it across destroy")
                extraVolumes.append(name)
            }
            fields = [("volume", .string(name), nil), ("target", .string(target), nil)]
        case "tmpfs":
            fields = [("type", .string("tmpfs"), nil), ("target", .string(target), nil)]
            if let size { fields.append(("size", .string(size), nil)) }
        default:
            warn(item, p, "volume type \(type ?? "") is not mapped; left out")
            return nil
        }
        if readOnly { fields.append(("readOnly", .raw("true"), nil)) }
        return .map(fields)
    }

    mutating func serviceNetworks(_ v: YAMLNode, _ p: String) -> YAMLOut {
        var out: [(key: String, value: YAMLOut, comment: String?)] = []
        func name(_ composeName: String, _ node: YAMLNode) -> String {
            if let known = networkNames[composeName] { return known }
            if composeName != "default" { warn(node, p, "network \(quoted(composeName)) is not declared under the top-level networks:") }
            usesDefaultNetwork = usesDefaultNetwork || composeName == "default"
            return berthName(composeName)
        }
        if let items = v.items {
            for (i, item) in items.enumerated() {
                if let n = text(item, "\(p)[\(i)]") { out.append((name(n, item), .map([]), nil)) }
            }
        } else {
            for entry in v.entries ?? [] {
                var options: [(key: String, value: YAMLOut, comment: String?)] = []
                for option in entry.value.entries ?? [] {
                    let op = "\(p).\(entry.key.value).\(option.key.value)"
                    switch option.key.value {
                    case "ipv4_address": if let ip = text(option.value, op) { options.append(("ip", .string(ip), nil)) }
                    case "aliases": warn(key: option.key, op, "berth's /etc/hosts names containers by their names only")
                    default: warn(key: option.key, op, "berth attaches with an address (ipv4_address) only; left out")
                    }
                }
                out.append((name(entry.key.value, entry.value), .map(options), nil))
            }
        }
        return .map(out)
    }

    mutating func logging(_ v: YAMLNode, _ p: String, into fields: inout [(key: String, value: YAMLOut, comment: String?)]) {
        var out: [(key: String, value: YAMLOut, comment: String?)] = []
        if let driver = v["driver"], let d = text(driver, "\(p).driver"), d != "json-file", d != "local" {
            warn(driver, "\(p).driver", "berth writes its own rotated log files; driver \(d) is not used")
        }
        for option in v["options"]?.entries ?? [] {
            let op = "\(p).options.\(option.key.value)"
            guard let t = text(option.value, op) else { continue }
            switch option.key.value {
            case "max-size": if let s = size(t, option.value, op) { out.append(("maxSize", .string(s), nil)) }
            case "max-file": if let n = Int(t), n >= 1 { out.append(("maxFiles", .raw(String(n)), nil)) }
            default: warn(key: option.key, op, "berth rotates uncompressed files by max-size and max-file only; left out")
            }
        }
        if !out.isEmpty { fields.append(("logging", .map(out), nil)) }
    }
}
