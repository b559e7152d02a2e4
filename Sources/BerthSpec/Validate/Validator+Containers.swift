extension Validator {
    static let containerKeys = [
        "rootfs", "command", "env", "workdir", "user", "hostname", "namespaces", "userns", "networks", "dns",
        "resources", "restart", "stopSignal", "stopTimeout", "readOnlyRootfs", "capabilities", "mounts",
        "logging", "healthcheck", "dependsOn",
        "image", "entrypoint",  // images
        "ports",  // networks
        "pull",  // registry
    ] + Validator.hardeningKeys
    /// resolv.conf: the C library reads at most three name servers.
    static let maxDNS = 3
    /// The kernel's limit on lines in uid_map and gid_map (since Linux 4.15).
    static let maxIDMappings = 340

    func checkContainers(_ node: YAMLNode) -> [Container] {
        guard let entries = namedEntries(of: node, path: "containers", what: "a mapping of container names to containers") else {
            return []
        }
        if entries.isEmpty {
            error(node.location, "containers", "declares no container", hint: "a spec runs at least one container")
        }
        var containers: [Container] = []
        for entry in entries {
            let name = entry.key.value
            let path = "containers.\(name)"
            if let problem = Names.problem(with: name, maxLength: Names.containerMaxLength) {
                error(entry.key.location, path, "the container name \(quoted(name)) \(problem)")
            }
            if let container = checkContainer(entry, name: name, path: path) {
                containers.append(container)
            }
        }
        checkDependencyGraph(entries, containers)
        return containers
    }

    private func checkContainer(_ entry: YAMLNode.Entry, name: String, path: String) -> Container? {
        guard let fields = fields(of: entry.value, path: path, known: Validator.containerKeys, what: "a container") else {
            return nil
        }
        let errorsBefore = errorCount
        var container = Container(name: name, rootfs: "/", command: ["/"])
        func at(_ key: String) -> (YAMLNode, String)? {
            fields[key].map { ($0.value, join(path, key)) }
        }

        checkRootAndCommand(&container, fields: fields, entry: entry, path: path)
        checkPull(&container, fields: fields, path: path)  // registry

        if let (node, p) = at("env") { container.env = checkEnv(node, p) }
        if let (node, p) = at("workdir") { container.workdir = absolutePath(node, p) ?? "/" }
        container.user.source = SpecPosition(file: file, location: entry.key.location, path: path)
        if let (node, p) = at("user") { container.user = checkUser(node, p) ?? container.user }

        // Namespaces come first: other fields are only allowed with some of them.
        if let (node, p) = at("namespaces") { container.namespaces = checkNamespaces(node, p) ?? Namespace.defaults }
        let namespaces = Set(container.namespaces)
        let namespacesWritten = fields["namespaces"]?.value.location ?? entry.key.location

        if let (node, p) = at("hostname") {
            if let text = string(node, p) {
                if let problem = Names.hostnameProblem(text) {
                    error(node.location, p, "the host name \(quoted(text)) \(problem)")
                } else if !namespaces.contains(.uts) {
                    error(node.location, p, "a host name needs the uts namespace", hint: "add uts to namespaces, or remove hostname")
                } else {
                    container.hostname = text
                }
            }
        }

        if let (node, p) = at("userns") {
            let userns = checkUserNamespace(node, p)
            if !namespaces.contains(.user) {
                error(fields["userns"]!.key.location, p, "userns is only allowed with the user namespace", hint: "add user to namespaces")
            } else {
                container.userns = userns
                if let userns { checkUserIsMapped(container.user, userns, at: fields["user"]?.value.location ?? node.location, path: join(path, fields["user"] != nil ? "user" : "userns")) }
            }
        } else if namespaces.contains(.user) {
            error(namespacesWritten, join(path, "namespaces"), "the user namespace needs a userns mapping",
                  hint: "add `userns: {uidMap: [{container: 0, host: 100000, size: 65536}], gidMap: [{container: 0, host: 100000, size: 65536}]}`")
        }

        if let (node, p) = at("networks") {
            if !namespaces.contains(.network) {
                error(fields["networks"]!.key.location, p, "networks are only allowed with the network namespace", hint: "add network to namespaces")
            } else {
                container.networks = checkAttachments(node, p, container: name)
            }
        }

        if let (node, p) = at("dns") { container.dns = checkDNS(node, p) }
        if let (node, p) = at("ports") {
            container.ports = checkPorts(node, p, container: name, networks: container.networks, keyLocation: fields["ports"]!.key.location)
        }
        if let (node, p) = at("resources") { container.resources = checkResources(node, p) }

        if let (node, p) = at("restart") {
            if let text = string(node, p) {
                if let policy = RestartPolicy(rawValue: text) {
                    container.restart = policy
                } else {
                    let names = RestartPolicy.allCases.map(\.rawValue)
                    error(node.location, p, "\(quoted(text)) is not a restart policy",
                          hint: Suggestions.hint(for: text, among: names) ?? "use one of: \(names.joined(separator: ", "))")
                }
            }
        }

        if let (node, p) = at("stopSignal") {
            if let s = node.scalar, s.kind == .string || s.kind == .int {
                if let signal = Signal.named(s.value) {
                    container.stopSignal = signal
                } else {
                    error(node.location, p, "\(quoted(s.value)) is not a signal", hint: "use a name such as SIGTERM, or its number")
                }
            } else {
                error(node.location, p, "must be a signal such as SIGTERM, found \(node.kindDescription)")
            }
        }

        if let (node, p) = at("stopTimeout") {
            if let s = node.scalar, s.kind == .int {
                error(node.location, p, "\(s.value) has no unit", hint: "write e.g. \"\(s.value)s\"")
            } else if let text = string(node, p) {
                do {
                    container.stopTimeout = try TimeSpan(parsing: text)
                } catch {
                    self.error(node.location, p, error)
                }
            }
        }

        if let (node, p) = at("readOnlyRootfs") { container.readOnlyRootfs = bool(node, p) ?? false }
        if let (node, p) = at("capabilities") { container.capabilities = checkCapabilities(node, p) }
        if let (node, p) = at("mounts") { container.mounts = checkMounts(node, p) }
        if let (node, p) = at("logging") { container.logging = checkLogging(node, p) }
        if let (node, p) = at("healthcheck") {
            container.healthcheck = checkHealthcheck(node, p)
            if Validator.isNoneHealthcheck(node) { container.healthcheckNone = true }
        }
        if let (node, p) = at("dependsOn") { container.dependsOn = checkDependsOn(node, p, container: name) }
        checkHardening(fields, path: path, into: &container)

        return errorCount == errorsBefore ? container : nil
    }

    func checkCommand(_ node: YAMLNode, _ path: String) -> [String] {
        if node.scalar?.kind == .string {
            error(node.location, path, "must be a list of words, found \(node.kindDescription)",
                  hint: "berth runs no shell for you: write e.g. [\"/bin/sh\", \"-c\", \"...\"]")
            return []
        }
        guard let items = sequence(node, path, example: "[\"/bin/httpd\", \"-f\"]") else { return [] }
        guard !items.isEmpty else {
            error(node.location, path, "is empty", hint: "give at least the program to run")
            return []
        }
        var argv: [String] = []
        for (i, item) in items.enumerated() {
            if let word = text(item, "\(path)[\(i)]") { argv.append(word) }
        }
        if let first = argv.first, first.isEmpty, items[0].scalar?.kind != .null {
            error(items[0].location, "\(path)[0]", "the program name is empty")
        }
        return argv
    }

    private func checkEnv(_ node: YAMLNode, _ path: String) -> [EnvVar] {
        // Environment keys are data, not format keys: `x-` is not special here.
        guard let entries = mapping(node, path, what: "a mapping of variable names to values") else { return [] }
        var env: [EnvVar] = []
        for entry in entries {
            let name = entry.key.value
            let p = join(path, name)
            if name.isEmpty || name.utf8.contains(UInt8(ascii: "=")) || name.utf8.contains(0) {
                error(entry.key.location, p, "\(quoted(name)) is not a variable name", hint: "a name is not empty and holds no '=' or NUL")
                continue
            }
            if let value = text(entry.value, p) { env.append(EnvVar(name: name, value: value)) }
        }
        return env.sorted { $0.name < $1.name }
    }

    private func checkNamespaces(_ node: YAMLNode, _ path: String) -> [Namespace]? {
        guard let items = sequence(node, path, example: "[uts, ipc, pid, mount, network]") else { return nil }
        var seen: Set<Namespace> = []
        var ok = true
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let text = string(item, p) else {
                ok = false
                continue
            }
            guard let ns = Namespace(rawValue: text) else {
                let names = Namespace.allCases.map(\.rawValue)
                error(item.location, p, "\(quoted(text)) is not a namespace",
                      hint: Suggestions.hint(for: text, among: names) ?? "use: \(names.joined(separator: ", "))")
                ok = false
                continue
            }
            if !seen.insert(ns).inserted {
                error(item.location, p, "\(text) is listed twice")
                ok = false
            }
        }
        if ok, !seen.contains(.mount) {
            error(node.location, path, "must include mount: a container has its own root filesystem")
        }
        // The namespaces that were written correctly, even when others were not: the fields
        // that depend on them (hostname, userns, networks) are checked against what the
        // file says, so that one pass shows every problem.
        return seen.sorted()
    }

    private func checkUserNamespace(_ node: YAMLNode, _ path: String) -> UserNamespace? {
        guard let fields = fields(of: node, path: path, known: ["uidMap", "gidMap"], what: "a user namespace mapping") else {
            return nil
        }
        var maps: [[IDMapping]?] = []
        for key in ["uidMap", "gidMap"] {
            guard let entry = fields[key] else {
                error(node.location, path, "missing \"\(key)\"", hint: "add e.g. `\(key): [{container: 0, host: 100000, size: 65536}]`")
                maps.append(nil)
                continue
            }
            maps.append(checkIDMap(entry.value, join(path, key)))
        }
        guard let uidMap = maps[0], let gidMap = maps[1] else { return nil }
        return UserNamespace(uidMap: uidMap, gidMap: gidMap)
    }

    private func checkIDMap(_ node: YAMLNode, _ path: String) -> [IDMapping]? {
        guard let items = sequence(node, path, example: "[{container: 0, host: 100000, size: 65536}]") else { return nil }
        guard !items.isEmpty else {
            error(node.location, path, "is empty", hint: "map at least one range")
            return nil
        }
        guard items.count <= Validator.maxIDMappings else {
            error(node.location, path, "has \(items.count) ranges; the kernel takes at most \(Validator.maxIDMappings)")
            return nil
        }
        var result: [IDMapping] = []
        var locations: [SourceLocation] = []
        var ok = true
        let limit = Int(UInt32.max)
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let fields = fields(of: item, path: p, known: ["container", "host", "size"], what: "an id range") else {
                ok = false
                continue
            }
            var values: [Int] = []
            for key in ["container", "host", "size"] {
                guard let e = fields[key] else {
                    error(item.location, p, "missing \"\(key)\"")
                    continue
                }
                if let v = integer(e.value, join(p, key), in: (key == "size" ? 1 : 0)...(limit - 1)) { values.append(v) }
            }
            guard values.count == 3 else {
                ok = false
                continue
            }
            if values[0] + values[2] > limit || values[1] + values[2] > limit {
                error(item.location, p, "the range runs past id \(limit - 1)")
                ok = false
                continue
            }
            result.append(IDMapping(container: UInt32(values[0]), host: UInt32(values[1]), size: UInt32(values[2])))
            locations.append(item.location)
        }
        guard ok else { return nil }
        // The kernel refuses overlapping ranges on either side; sorting keeps this n log n.
        for side in ["container", "host"] {
            let order = result.indices.sorted {
                side == "container" ? result[$0].container < result[$1].container : result[$0].host < result[$1].host
            }
            for (a, b) in zip(order, order.dropFirst()) {
                let (startA, startB) = side == "container" ? (result[a].container, result[b].container) : (result[a].host, result[b].host)
                if UInt64(startA) + UInt64(result[a].size) > UInt64(startB) {
                    let later = max(a, b)
                    error(locations[later], "\(path)[\(later)]", "overlaps the \(side) ids of \(path)[\(min(a, b))]")
                    ok = false
                }
            }
        }
        return ok ? result : nil
    }

    private func checkAttachments(_ node: YAMLNode, _ path: String, container: String) -> [NetworkAttachment] {
        var attachments: [NetworkAttachment] = []
        func attach(_ name: String, ip: IPv4Address?, location: SourceLocation, path p: String) {
            attachments.append(NetworkAttachment(network: name, ip: ip))
            attachmentFacts.append(AttachmentFacts(container: container, network: name, ip: ip, location: location, path: p))
        }
        if let items = node.items {
            var seen: Set<String> = []
            for (i, item) in items.enumerated() {
                let p = "\(path)[\(i)]"
                guard let name = string(item, p) else { continue }
                guard seen.insert(name).inserted else {
                    error(item.location, p, "\(name) is listed twice")
                    continue
                }
                attach(name, ip: nil, location: item.location, path: p)
            }
            return attachments
        }
        guard let entries = namedEntries(of: node, path: path, what: "a mapping of network names to attachments (or a list of names)") else {
            return []
        }
        for entry in entries {
            let name = entry.key.value
            let p = join(path, name)
            if entry.value.scalar?.kind == .null {
                attach(name, ip: nil, location: entry.key.location, path: p)
                continue
            }
            guard let fields = fields(of: entry.value, path: p, known: ["ip"], what: "a network attachment") else { continue }
            if let ipEntry = fields["ip"] {
                guard let ip = ipv4(ipEntry.value, join(p, "ip")) else { continue }
                attach(name, ip: ip, location: ipEntry.value.location, path: join(p, "ip"))
            } else {
                attach(name, ip: nil, location: entry.key.location, path: p)
            }
        }
        return attachments
    }

    private func checkDNS(_ node: YAMLNode, _ path: String) -> [IPv4Address] {
        guard let items = sequence(node, path, example: "[10.88.1.1]") else { return [] }
        if items.count > Validator.maxDNS {
            error(items[Validator.maxDNS].location, "\(path)[\(Validator.maxDNS)]",
                  "more than \(Validator.maxDNS) name servers; the resolver reads only the first \(Validator.maxDNS)")
        }
        return items.enumerated().compactMap { ipv4($1, "\(path)[\($0)]") }
    }

    private func checkCapabilities(_ node: YAMLNode, _ path: String) -> CapabilityChanges {
        guard let fields = fields(of: node, path: path, known: ["add", "drop"], what: "capability changes") else {
            return CapabilityChanges()
        }
        struct Entry {
            var name: String
            var location: SourceLocation
            var path: String
            /// Written as ALL rather than by name: yields to a name written in the other list.
            var fromAll: Bool
        }
        var lists: [String: [Entry]] = [:]
        for key in ["add", "drop"] {
            guard let entry = fields[key] else { continue }
            let p = join(path, key)
            guard let items = sequence(entry.value, p, example: "[NET_BIND_SERVICE]") else { continue }
            var names: [Entry] = []
            var seen: [String: Int] = [:]
            for (i, item) in items.enumerated() {
                let ip = "\(p)[\(i)]"
                guard let text = string(item, ip) else { continue }
                let expanded: [String]
                let isAll = text.uppercased() == "ALL" || text.uppercased() == "CAP_ALL"
                if isAll {
                    expanded = Capability.names
                } else if let name = Capability.canonicalName(text) {
                    expanded = [name]
                } else {
                    let bare = Capability.names.map { String($0.dropFirst(4)) }
                    let guess = Suggestions.closest(to: text.uppercased().hasPrefix("CAP_") ? String(text.dropFirst(4)) : text, among: bare)
                    error(item.location, ip, "\(quoted(text)) is not a Linux capability",
                          hint: guess.map { "did you mean \"\($0)\"?" } ?? "use a name such as NET_BIND_SERVICE or CAP_NET_BIND_SERVICE")
                    continue
                }
                for name in expanded {
                    if let previous = seen[name] {
                        if !isAll, !names[previous].fromAll { error(item.location, ip, "\(name) is listed twice") }
                        if !isAll { names[previous] = Entry(name: name, location: item.location, path: ip, fromAll: false) }
                        continue
                    }
                    seen[name] = names.count
                    names.append(Entry(name: name, location: item.location, path: ip, fromAll: isAll))
                }
            }
            lists[key] = names
        }
        // `drop: [ALL], add: [NET_BIND_SERVICE]` keeps NET_BIND_SERVICE, as in Compose; naming
        // the same capability in both lists is a contradiction.
        var add = lists["add"] ?? []
        var drop = lists["drop"] ?? []
        let explicitAdd = Set(add.filter { !$0.fromAll }.map(\.name))
        let explicitDrop = Set(drop.filter { !$0.fromAll }.map(\.name))
        for entry in add where !entry.fromAll && explicitDrop.contains(entry.name) {
            error(entry.location, entry.path, "\(entry.name) is both added and dropped")
        }
        drop.removeAll { $0.fromAll && explicitAdd.contains($0.name) }
        add.removeAll { $0.fromAll && explicitDrop.contains($0.name) }
        return CapabilityChanges(add: add.map(\.name), drop: drop.map(\.name))
    }

    private func checkMounts(_ node: YAMLNode, _ path: String) -> [Mount] {
        guard let items = sequence(node, path, example: "[{source: ./data, target: /data}]") else { return [] }
        var mounts: [Mount] = []
        var targets: [String: Int] = [:]
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let fields = fields(of: item, path: p, known: ["type", "source", "target", "readOnly", "size", "volume"], what: "a mount") else {
                continue
            }
            var type = fields["volume"] != nil ? "volume" : "bind"
            if let t = fields["type"] {
                guard let text = string(t.value, join(p, "type")) else { continue }
                guard ["bind", "tmpfs", "volume"].contains(text) else {
                    error(t.value.location, join(p, "type"), "\(quoted(text)) is not a mount type",
                          hint: Suggestions.hint(for: text, among: ["bind", "tmpfs", "volume"]) ?? "use bind, tmpfs or volume")
                    continue
                }
                type = text
            }
            guard let targetEntry = fields["target"] else {
                error(item.location, p, "missing \"target\"", hint: "add the absolute path inside the container, e.g. `target: /data`")
                continue
            }
            guard let target = absolutePath(targetEntry.value, join(p, "target")) else { continue }
            if target == "/" {
                error(targetEntry.value.location, join(p, "target"), "cannot mount over the root", hint: "rootfs is the root")
                continue
            }
            if let first = targets[target] {
                error(targetEntry.value.location, join(p, "target"), "\(target) is already the target of \(path)[\(first)]")
                continue
            }
            targets[target] = i
            let readOnly = fields["readOnly"].map { bool($0.value, join(p, "readOnly")) } ?? false
            guard let readOnly else { continue }
            if type == "volume" || fields["volume"] != nil {
                if let mount = checkVolumeMount(fields, item: item, type: type, target: target, readOnly: readOnly, path: p) {
                    mounts.append(mount)
                }
            } else if type == "tmpfs" {
                if let s = fields["source"] {
                    error(s.key.location, join(p, "source"), "a tmpfs mount has no source")
                    continue
                }
                var size: ByteSize?
                if let s = fields["size"] {
                    guard let value = self.size(s.value, join(p, "size")) else { continue }
                    guard value.bytes > 0 else {
                        error(s.value.location, join(p, "size"), "must be more than 0")
                        continue
                    }
                    size = value
                }
                mounts.append(.tmpfs(target: target, size: size, readOnly: readOnly))
            } else {
                if let s = fields["size"] {
                    error(s.key.location, join(p, "size"), "only a tmpfs mount has a size", hint: "add `type: tmpfs`")
                    continue
                }
                guard let s = fields["source"] else {
                    error(item.location, p, "missing \"source\"", hint: "a bind mount needs a host path; for a tmpfs add `type: tmpfs`")
                    continue
                }
                guard let source = hostPath(s.value, join(p, "source")) else { continue }
                mounts.append(.bind(source: source, target: target, readOnly: readOnly))
            }
        }
        return mounts
    }
}
