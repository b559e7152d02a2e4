import FoundationEssentials
import SystemPackage
import BerthSpec

/// What the import needs to know of a service before it converts the services that depend
/// on it: berth checks a dependency against its target (healthy needs a healthcheck,
/// completed a job that ends), so the Compose file is read for these first.
struct ServiceFacts {
    /// A service of that name is in the file (not only named by a `depends_on`).
    var exists = false
    /// The service has a healthcheck berth runs (not `disable: true`, not `["NONE"]`).
    var hasHealthcheck = false
    /// The service's `restart:` as written; nil when it has none (Compose's default `no`).
    var restart: String?
    /// Services whose `service_completed_successfully` waits for this one, in file order.
    var completionWaiters: [String] = []

    /// Whether berth will run the service as a job that ends (restart never or on-failure).
    var endsAsJob: Bool {
        guard let restart else { return !completionWaiters.isEmpty }
        return restart == "no" || restart.hasPrefix("on-failure")
    }
}

extension Conversion {
    /// Reads every service's healthcheck and restart, and who waits for whose completion.
    static func facts(of services: YAMLNode, interpolation: Interpolation) -> [String: ServiceFacts] {
        var facts: [String: ServiceFacts] = [:]
        for entry in services.entries ?? [] where !entry.key.value.hasPrefix("x-") {
            var f = ServiceFacts()
            if let check = entry.value["healthcheck"] {
                let disabled = check["disable"]?.scalar?.boolValue == true
                let test = check["test"]
                let none = test?.items?.first?.scalar?.value == "NONE"
                f.hasHealthcheck = !disabled && !none && test != nil
            }
            if let r = entry.value["restart"]?.scalar?.value { f.restart = (try? interpolation.apply(r)) ?? r }
            facts[entry.key.value, default: ServiceFacts()].exists = true
            facts[entry.key.value, default: ServiceFacts()].hasHealthcheck = f.hasHealthcheck
            facts[entry.key.value, default: ServiceFacts()].restart = f.restart
            for dep in entry.value["depends_on"]?.entries ?? []
            where dep.value["condition"]?.scalar?.value == "service_completed_successfully" {
                facts[dep.key.value, default: ServiceFacts()].completionWaiters.append(entry.key.value)
            }
        }
        return facts
    }

    // MARK: - ports

    /// A `ports:` entry, short (`[IP:][HOST:]CONTAINER[/PROTO]`) or long syntax, in berth's
    /// short form; nil (with a warning) for what berth cannot publish.
    mutating func port(_ item: YAMLNode, _ p: String) -> String? {
        var hostIP: String?, host: String?, proto = "tcp"
        let container: String
        if let entries = item.entries {
            var target: String?
            for field in entries where !field.key.value.hasPrefix("x-") {
                let fp = "\(p).\(field.key.value)"
                switch field.key.value {
                case "target": target = text(field.value, fp)
                case "published": host = text(field.value, fp)
                case "host_ip": hostIP = text(field.value, fp)
                case "protocol": if let t = text(field.value, fp) { proto = t.lowercased() }
                case "mode":
                    if let t = text(field.value, fp), t != "host", t != "ingress" { warn(field.value, fp, "\(quoted(t)) is not a port mode; ignored") }
                case "name", "app_protocol":
                    warn(key: field.key, fp, "berth's ports have no \(field.key.value); left out")
                default: warn(key: field.key, fp, "berth ports take target, published, host_ip and protocol; left out")
                }
            }
            guard let target else {
                warn(item, p, "a port needs a target; left out")
                return nil
            }
            container = target
        } else {
            guard var t = text(item, p) else { return nil }
            if let slash = t.lastIndex(of: "/") {
                proto = t[t.index(after: slash)...].lowercased()
                t = String(t[..<slash])
            }
            if t.hasPrefix("[") {
                warn(item, p, "\(quoted(t)): berth publishes on IPv4 addresses only; left out")
                return nil
            }
            let parts = t.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            switch parts.count {
            case 1: container = parts[0]
            case 2:
                host = parts[0]
                container = parts[1]
            case 3:
                hostIP = parts[0]
                host = parts[1]
                container = parts[2]
            default:
                warn(item, p, "\(quoted(t)) is not a port mapping; left out")
                return nil
            }
        }
        guard proto == "tcp" || proto == "udp" else {
            warn(item, p, "protocol \(proto): berth publishes tcp and udp; left out")
            return nil
        }
        if let ip = hostIP, ip.contains(":") {
            warn(item, p, "\(quoted(ip)): berth publishes on IPv4 addresses only; left out")
            return nil
        }
        if host == nil || host == "" {
            // Compose picks a free host port; berth publishes on a fixed one, so it says which.
            host = container
            warn(item, p, "no host port: Compose picks a free one, berth publishes \(container) on the same host port")
        }
        var hostText = host!
        let hostRange = hostText.split(separator: "-"), containerRange = container.split(separator: "-")
        if hostRange.count == 2 && containerRange.count == 1 {
            // Compose takes the first free port of the range; berth's ranges map one to one.
            hostText = String(hostRange[0])
            warn(item, p, "a host range for one container port: berth publishes on its first port, \(hostText)")
        }
        let written = (hostIP.map { "\($0):" } ?? "") + "\(hostText):\(container)" + (proto == "udp" ? "/udp" : "")
        switch PublishedPort.parse(written) {
        case .success(let port):
            return port.description.hasSuffix("/tcp") ? String(port.description.dropLast(4)) : port.description
        case .failure(let error):
            warn(item, p, "\(error.message); left out")
            return nil
        }
    }

    // MARK: - depends_on

    /// `depends_on:` as a list or a mapping with conditions, in berth's `dependsOn:`.
    mutating func dependsOn(_ v: YAMLNode, _ p: String, service: String, facts: [String: ServiceFacts]) -> YAMLOut? {
        var out: [(key: String, value: YAMLOut, comment: String?)] = []
        var plain = true
        func target(_ composeName: String, _ at: SourceLocation, _ dp: String) -> String? {
            guard facts[composeName]?.exists == true, composeName != service else {
                warnings.append(ComposeWarning(file: file, location: at, path: dp,
                                               message: "no service \(quoted(composeName)) in this file; left out"))
                return nil
            }
            return berthName(composeName)
        }
        if let items = v.items {
            for (i, item) in items.enumerated() {
                guard let n = text(item, "\(p)[\(i)]"), let name = target(n, item.location, "\(p)[\(i)]") else { continue }
                out.append((name, .map([]), nil))
            }
        } else if let entries = v.entries {
            for entry in entries where !entry.key.value.hasPrefix("x-") {
                let dp = "\(p).\(entry.key.value)"
                guard let name = target(entry.key.value, entry.key.location, dp) else { continue }
                var fields: [(key: String, value: YAMLOut, comment: String?)] = []
                for option in entry.value.entries ?? [] where !option.key.value.hasPrefix("x-") {
                    let op = "\(dp).\(option.key.value)"
                    switch option.key.value {
                    case "condition":
                        guard let t = text(option.value, op) else { continue }
                        switch t {
                        case "service_started": break
                        case "service_healthy":
                            if facts[entry.key.value]?.hasHealthcheck == true {
                                fields.append(("condition", .string("healthy"), nil))
                            } else {
                                warn(option.value, op, "\(entry.key.value) has no healthcheck in this file (Compose would use its image's): berth waits for it to start instead")
                            }
                        case "service_completed_successfully":
                            if facts[entry.key.value]?.endsAsJob == true {
                                fields.append(("condition", .string("completed"), nil))
                            } else {
                                warn(option.value, op, "\(entry.key.value) restarts (\(facts[entry.key.value]?.restart ?? "")), so it never completes: berth waits for it to start instead")
                            }
                        default:
                            warn(option.value, op, "\(quoted(t)) is not a condition; berth waits for it to start")
                        }
                    case "restart":
                        if option.value.scalar?.boolValue == true { fields.append(("restart", .raw("true"), nil)) }
                    case "required":
                        if option.value.scalar?.boolValue == false {
                            warn(option.value, op, "berth has no optional dependencies: \(entry.key.value) is in the spec and waited for")
                        }
                    default:
                        warn(key: option.key, op, "berth dependencies take condition and restart; left out")
                    }
                }
                if !fields.isEmpty { plain = false }
                out.append((name, .map(fields), nil))
            }
        } else {
            warn(v, p, "expected a list or a mapping of services, found \(v.kindDescription); left out")
        }
        guard !out.isEmpty else { return nil }
        return plain ? .flow(out.map(\.key)) : .map(out)
    }

    // MARK: - healthcheck

    /// `healthcheck:` in berth's terms; `disable: true` is `test: ["NONE"]`.
    mutating func healthcheck(_ v: YAMLNode, _ p: String) -> YAMLOut? {
        guard let entries = v.entries else {
            warn(v, p, "expected a mapping, found \(v.kindDescription); left out")
            return nil
        }
        if v["disable"]?.scalar?.boolValue == true {
            return .map([("test", .flow(["NONE"]), "disable: true: no check, not even the image's.")])
        }
        var fields: [(key: String, value: YAMLOut, comment: String?)] = []
        var hasTest = false
        for field in entries where !field.key.value.hasPrefix("x-") {
            let key = field.key.value, fp = "\(p).\(key)"
            switch key {
            case "test":
                if let items = field.value.items {
                    let words = items.enumerated().compactMap { i, item in text(item, "\(fp)[\(i)]") }
                    guard let first = words.first, ["CMD", "CMD-SHELL", "NONE"].contains(first),
                          first == "NONE" ? words.count == 1 : words.count >= 2,
                          first != "CMD-SHELL" || words.count == 2 else {
                        warn(field.value, fp, "a test is [\"CMD\", args...], [\"CMD-SHELL\", script] or [\"NONE\"]; left out")
                        return nil
                    }
                    fields.append(("test", .flow(words), nil))
                } else if let script = text(field.value, fp) {
                    // Compose's string form is a shell script (CMD-SHELL).
                    fields.append(("test", .flow(["CMD-SHELL", script]), nil))
                } else {
                    return nil
                }
                hasTest = true
            case "interval", "timeout", "start_period", "start_interval":
                let berthKey = ["interval": "interval", "timeout": "timeout", "start_period": "startPeriod",
                                "start_interval": "startInterval"][key]!
                guard let t = text(field.value, fp) else { continue }
                let minimum = key == "start_period" ? 0 : 100
                if let span = duration(t), let ms = try? TimeSpan(parsing: span).milliseconds, ms >= minimum {
                    fields.append((berthKey, .string(span), nil))
                } else {
                    warn(field.value, fp, "\(quoted(t)) is not a duration berth takes here (at least \(TimeSpan.format(minimum))); left out")
                }
            case "retries":
                if let n = field.value.scalar?.intValue, (1...1000).contains(n) { fields.append(("retries", .raw(String(n)), nil)) }
                else { warn(field.value, fp, "not a number from 1 to 1000; left out") }
            case "disable":
                break
            default:
                warn(key: field.key, fp, "berth healthchecks take test, interval, timeout, retries, start_period and start_interval; left out")
            }
        }
        guard hasTest else {
            warn(v, p, "no test: berth does not run the image's healthcheck with other timings; left out")
            return nil
        }
        return .map(fields)
    }

    // MARK: - hardening

    /// `sysctls:` (a mapping or `name=value` items): the namespaced ones berth sets.
    mutating func sysctls(_ v: YAMLNode, _ p: String, hostNetwork: Bool) -> YAMLOut? {
        var out: [(key: String, value: YAMLOut, comment: String?)] = []
        for (name, value, node) in keyValues(v, p) {
            let sp = "\(p).\(name)"
            guard let value else { warn(node, sp, "no value; left out"); continue }
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                warn(node, sp, "\(quoted(name)) is not a kernel parameter name; left out")
                continue
            }
            switch SysctlSetting.namespace(of: name) {
            case nil:
                warn(node, sp, "not namespaced: setting it would change the host, which berth never does for a container; left out")
            case .network? where hostNetwork:
                warn(node, sp, "the container shares the host's network namespace (network_mode: host); left out")
            default:
                out.append((name, .string(value), nil))
            }
        }
        return out.isEmpty ? nil : .map(out)
    }

    /// `ulimits:`: one number (soft and hard) or `{soft, hard}`; -1 is unlimited, as Docker reads it.
    mutating func ulimits(_ v: YAMLNode, _ p: String) -> YAMLOut? {
        var out: [(key: String, value: YAMLOut, comment: String?)] = []
        func limit(_ node: YAMLNode, _ lp: String) -> String? {
            guard let t = text(node, lp) else { return nil }
            if t == "-1" || t == "unlimited" { return "unlimited" }
            guard let n = UInt64(t) else {
                warn(node, lp, "\(quoted(t)) is not a whole number of 0 or more; left out")
                return nil
            }
            return String(n)
        }
        func rendered(_ s: String) -> YAMLOut { s == "unlimited" ? .string(s) : .raw(s) }
        for entry in v.entries ?? [] where !entry.key.value.hasPrefix("x-") {
            let name = entry.key.value, lp = "\(p).\(name)"
            guard Ulimit.names.contains(name) else {
                warn(key: entry.key, lp, "\(quoted(name)) is not a resource limit berth sets; left out")
                continue
            }
            if entry.value.entries != nil {
                guard let s = entry.value["soft"], let h = entry.value["hard"] else {
                    warn(entry.value, lp, "needs both soft and hard; left out")
                    continue
                }
                guard let soft = limit(s, "\(lp).soft"), let hard = limit(h, "\(lp).hard") else { continue }
                let bound = { (x: String) in x == "unlimited" ? UInt64.max : UInt64(x)! }
                guard bound(soft) <= bound(hard) else {
                    warn(entry.value, lp, "the soft limit is above the hard limit; left out")
                    continue
                }
                out.append((name, .map([("soft", rendered(soft), nil), ("hard", rendered(hard), nil)]), nil))
            } else if let n = limit(entry.value, lp) {
                out.append((name, rendered(n), nil))
            }
        }
        if v.entries == nil { warn(v, p, "expected a mapping, found \(v.kindDescription); left out") }
        return out.isEmpty ? nil : .map(out)
    }

    /// `devices:`: `HOST[:CONTAINER[:PERMISSIONS]]` or `{source, target, permissions}`.
    mutating func devices(_ v: YAMLNode, _ p: String) -> [YAMLOut] {
        var out: [YAMLOut] = []
        for (i, item) in (v.items ?? []).enumerated() {
            let ip = "\(p)[\(i)]"
            var host: String?, inside: String?, permissions: String?
            if item.entries != nil {
                host = item["source"].flatMap { text($0, "\(ip).source") }
                inside = item["target"].flatMap { text($0, "\(ip).target") }
                permissions = item["permissions"].flatMap { text($0, "\(ip).permissions") }
            } else if let t = text(item, ip) {
                let parts = t.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                host = parts[0]
                if parts.count == 2 {
                    // HOST:PERMISSIONS when the second part is only r, w and m.
                    if !parts[1].isEmpty && parts[1].allSatisfy({ "rwm".contains($0) }) { permissions = parts[1] } else { inside = parts[1] }
                }
                if parts.count >= 3 { (inside, permissions) = (parts[1], parts[2]) }
            }
            guard let host, host.hasPrefix("/dev/"), !host.contains("..") else {
                warn(item, ip, "berth passes device nodes under /dev only (no CDI names); left out")
                continue
            }
            if let inside, !inside.isEmpty, inside != host {
                warn(item, ip, "berth binds a device at its host path: \(host), not \(inside)")
            }
            let access = "rwm".filter { (permissions ?? "rwm").contains($0) }
            if let permissions, permissions.isEmpty || !permissions.allSatisfy({ "rwm".contains($0) }) {
                warn(item, ip, "\(quoted(permissions)) is not of r, w, m; rwm used")
                out.append(.string(host))
            } else if access == "rwm" {
                out.append(.string(host))
            } else {
                out.append(.map([("path", .string(host), nil), ("access", .string(access), nil)]))
            }
        }
        if v.items == nil { warn(v, p, "expected a list, found \(v.kindDescription); left out") }
        return out
    }

    /// `security_opt:`: seccomp and no-new-privileges map; SELinux and AppArmor do not.
    mutating func securityOptions(_ v: YAMLNode, _ p: String, into fields: inout [(key: String, value: YAMLOut, comment: String?)]) {
        for (i, item) in (v.items ?? []).enumerated() {
            let ip = "\(p)[\(i)]"
            guard let t = text(item, ip) else { continue }
            // Docker takes both `key=value` and the older `key:value`.
            let separator = t.firstIndex { $0 == "=" || $0 == ":" }
            let key = separator.map { String(t[..<$0]) } ?? t
            let value = separator.map { String(t[t.index(after: $0)...]) }
            switch key {
            case "seccomp":
                guard let value, !value.isEmpty else { warn(item, ip, "seccomp needs a value; left out"); continue }
                var choice = value
                if value != "unconfined" {
                    // A profile file, relative to the Compose file as its other paths are.
                    choice = value.hasPrefix("/") ? value : FilePath(directory).appending(value).lexicallyNormalized().string
                }
                fields.append(("security", .map([("seccomp", .string(choice), nil)]), nil))
            case "no-new-privileges":
                let on = value.map { $0 == "true" || $0 == "1" } ?? true
                fields.append(("noNewPrivileges", .raw(on ? "true" : "false"), on ? "berth's default too (Docker's is false)." : nil))
            case "label":
                warn(item, ip, "SELinux labels are not applied: berth confines with namespaces, capabilities and seccomp; left out")
            case "apparmor":
                warn(item, ip, "AppArmor profiles are not applied: berth confines with namespaces, capabilities and seccomp; left out")
            default:
                warn(item, ip, "\(quoted(key)) is not mapped")
            }
        }
        if v.items == nil { warn(v, p, "expected a list, found \(v.kindDescription); left out") }
    }

    /// `pull_policy:` as berth's `pull:`.
    mutating func pullPolicy(_ v: YAMLNode, _ p: String) -> String? {
        guard let t = text(v, p) else { return nil }
        switch t {
        case "always": return "always"
        case "never": return "never"
        case "missing", "if_not_present": return "missing"
        case "build":
            warn(v, p, "berth does not build images: it pulls when the image is missing")
            return nil
        default:
            warn(v, p, "\(quoted(t)): berth pulls when the image is missing, or always, or never; missing used")
            return nil
        }
    }
}
