import FoundationEssentials
import SystemPackage
import BerthSpec

/// Something of a Compose file that berth does not map (yet), or maps differently:
/// `compose.yaml:12:5: warning: services.web.ports: ...`.
public struct ComposeWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var location: SourceLocation
    /// The key path in the Compose file, e.g. `services.web.ports`.
    public var path: String
    public var message: String

    public var description: String { "\(file):\(location): warning: \(path): \(message)" }
}

/// What `berth import compose` produced.
public struct ComposeImport: Sendable {
    /// The berth spec, as YAML text with the schema modeline and comments.
    public var spec: String
    /// In source order.
    public var warnings: [ComposeWarning]
}

/// The file is not a Compose file berth can read: its diagnostics, positioned.
public struct ComposeImportError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Converts a Compose file (the Compose Specification, as docker compose and
/// podman-compose read it) into a berth spec, warning with line:col for everything
/// that does not map.
public struct ComposeImporter: Sendable {
    /// Variables for interpolation; the `.env` file next to the Compose file fills in
    /// what these lack (the environment wins, as in Compose).
    public var environment: [String: String]
    /// The modeline's path to berth's schema, relative to where the spec will be written.
    public var schemaPath: String

    public init(environment: [String: String], schemaPath: String = "schemas/berth-v1.schema.json") {
        self.environment = environment
        self.schemaPath = schemaPath
    }

    /// Converts `bytes` (the Compose file `fileName`, in `directory`, which relative paths
    /// and `.env` are read against).
    public func convert(bytes: [UInt8], fileName: String, directory: String) throws(ComposeImportError) -> ComposeImport {
        let parsed = YAMLParser.parse(bytes, file: fileName)
        guard let root = parsed.root, parsed.diagnostics.isEmpty else {
            throw ComposeImportError(diagnostics: parsed.diagnostics.isEmpty
                ? [Diagnostic(file: fileName, location: .file, path: "", message: "the file holds no YAML document")]
                : parsed.diagnostics)
        }
        guard let top = root.entries, let services = root["services"], services.entries != nil else {
            throw ComposeImportError(diagnostics: [Diagnostic(
                file: fileName, location: root.location, path: "",
                message: "not a Compose file: it has no `services:` mapping",
                hint: "a berth spec is read by `berth validate`, not imported")])
        }
        var env = environment
        if let dotEnv = try? String(contentsOfFile: directory + "/.env", encoding: .utf8) {
            for (k, v) in Interpolation.parseEnvFile(dotEnv) where env[k] == nil { env[k] = v }
        }
        var conversion = Conversion(file: fileName, directory: directory, interpolation: Interpolation(environment: env))
        let spec = conversion.run(top: top, services: services)
        if !conversion.errors.isEmpty { throw ComposeImportError(diagnostics: conversion.errors) }
        let header = """
            # yaml-language-server: $schema=\(schemaPath)
            #
            # Converted from \(fileName) by `berth import compose`. Check the warnings it
            # printed: each names a line of the Compose file and what berth does instead.

            """
        return ComposeImport(spec: header + spec.render(),
                             warnings: conversion.warnings.sorted { $0.location < $1.location })
    }
}

/// One conversion's state: warnings, errors, the networks and volumes it found.
struct Conversion {
    let file: String
    let directory: String
    let interpolation: Interpolation
    var warnings: [ComposeWarning] = []
    var errors: [Diagnostic] = []
    /// Compose network name -> berth network name.
    var networkNames: [String: String] = [:]
    /// Compose volume name -> berth volume name (declared or made for anonymous volumes).
    var volumeNames: [String: String] = [:]
    var extraVolumes: [String] = []
    var usesDefaultNetwork = false
    /// Compose service name -> what its dependents need to know of it.
    var facts: [String: ServiceFacts] = [:]

    init(file: String, directory: String, interpolation: Interpolation) {
        self.file = file
        self.directory = directory
        self.interpolation = interpolation
    }

    mutating func warn(_ node: YAMLNode, _ path: String, _ message: String) {
        warnings.append(ComposeWarning(file: file, location: node.location, path: path, message: message))
    }

    mutating func warn(key: YAMLScalar, _ path: String, _ message: String) {
        warnings.append(ComposeWarning(file: file, location: key.location, path: path, message: message))
    }

    /// A scalar's text, interpolated; nil (with a warning) for a collection.
    mutating func text(_ node: YAMLNode, _ path: String) -> String? {
        guard let s = node.scalar, s.kind != .null else {
            if node.scalar?.kind != .null { warn(node, path, "expected a single value, found \(node.kindDescription); left out") }
            return nil
        }
        do {
            return try interpolation.apply(s.value)
        } catch {
            switch error {
            case .required(let name, let message):
                errors.append(Diagnostic(file: file, location: node.location, path: path,
                                         message: "required variable \(name) is not set\(message.isEmpty ? "" : ": \(message)")"))
            case .malformed(let what):
                errors.append(Diagnostic(file: file, location: node.location, path: path,
                                         message: "\(quoted(what)) is not a valid interpolation"))
            }
            return nil
        }
    }

    /// A list of strings, or one string split as a shell would (Compose's string form).
    mutating func words(_ node: YAMLNode, _ path: String) -> [String]? {
        if let items = node.items {
            return items.enumerated().compactMap { i, item in text(item, "\(path)[\(i)]") }
        }
        guard let s = text(node, path) else { return nil }
        guard let split = ShellWords.split(s) else {
            warn(node, path, "unbalanced quotes in \(quoted(s)); left out")
            return nil
        }
        return split
    }

    /// A mapping `{KEY: value}` or a list `["KEY=value", "KEY"]`.
    mutating func keyValues(_ node: YAMLNode, _ path: String) -> [(key: String, value: String?, node: YAMLNode)] {
        if let entries = node.entries {
            return entries.map { e in (e.key.value, e.value.scalar?.kind == .null ? nil : text(e.value, "\(path).\(e.key.value)"), e.value) }
        }
        if let items = node.items {
            return items.enumerated().compactMap { i, item in
                guard let t = text(item, "\(path)[\(i)]") else { return nil }
                if let eq = t.firstIndex(of: "=") { return (String(t[..<eq]), String(t[t.index(after: eq)...]), item) }
                return (t, nil, item)
            }
        }
        warn(node, path, "expected a mapping or a list, found \(node.kindDescription); left out")
        return []
    }

    // MARK: - The document

    mutating func run(top: [YAMLNode.Entry], services: YAMLNode) -> YAMLOut {
        var out: [(key: String, value: YAMLOut, comment: String?)] = [("version", .raw("1"), nil)]
        var project: String?
        for entry in top {
            let key = entry.key.value
            switch key {
            case "services", "networks", "volumes": continue
            case "name":
                if let name = text(entry.value, "name") { project = berthName(name) }
            case "version":
                break // obsolete in the Compose Specification; berth has its own
            case _ where key.hasPrefix("x-"):
                break
            case "secrets", "configs":
                warn(key: entry.key, key, "berth has no \(key); bind-mount the files instead (mounts: {source, target, readOnly: true})")
            case "include":
                warn(key: entry.key, key, "included files are not read; import each and merge the specs by hand")
            default:
                warn(key: entry.key, key, "unknown top-level key, left out")
            }
        }
        let dirName = FilePath(directory).lastComponent?.string ?? ""
        // berth's project names are at most 32 characters.
        let projectName = String((project ?? berthName(dirName.isEmpty ? "compose" : dirName)).prefix(32))
        out.append(("project", .string(projectName), project == nil
                    ? "Compose names the project after the directory of its file." : nil))

        let networks = top.first { $0.key.value == "networks" }?.value
        let declaredNetworks = declareNetworks(networks)
        let volumes = top.first { $0.key.value == "volumes" }?.value
        let declaredVolumes = declareVolumes(volumes)

        facts = Self.facts(of: services, interpolation: interpolation)
        var containers: [(key: String, value: YAMLOut, comment: String?)] = []
        for entry in services.entries ?? [] where !entry.key.value.hasPrefix("x-") {
            let name = berthName(entry.key.value)
            if name != entry.key.value {
                warn(key: entry.key, "services.\(entry.key.value)", "renamed \(name): berth names are lowercase letters, digits and '-'")
            }
            containers.append((name, service(entry, name: name), nil))
        }

        var networkOut = declaredNetworks
        if usesDefaultNetwork && !networkOut.contains(where: { $0.key == "default" }) {
            networkOut.append(("default", .map([("subnet", .string(nextSubnet()), nil), ("masquerade", .raw("true"), nil)]),
                               "Compose's default network, which every service without `networks:` joins."))
        }
        if !networkOut.isEmpty { out.append(("networks", .map(networkOut), nil)) }
        var volumeOut = declaredVolumes
        for extra in extraVolumes { volumeOut.append((extra, .map([]), "An anonymous volume of the Compose file, named by the import.")) }
        if !volumeOut.isEmpty { out.append(("volumes", .map(volumeOut), nil)) }
        out.append(("containers", .map(containers), nil))
        return .map(out)
    }

    /// Subnets berth chooses for Compose networks that do not set one: 10.89.N.0/24 in turn.
    var subnetsUsed: Set<String> = []
    mutating func nextSubnet() -> String {
        for n in 0..<256 {
            let subnet = "10.89.\(n).0/24"
            if subnetsUsed.insert(subnet).inserted { return subnet }
        }
        return "10.90.0.0/24"
    }

    mutating func declareNetworks(_ node: YAMLNode?) -> [(key: String, value: YAMLOut, comment: String?)] {
        guard let node, let entries = node.entries else { return [] }
        var out: [(key: String, value: YAMLOut, comment: String?)] = []
        for entry in entries where !entry.key.value.hasPrefix("x-") {
            let composeName = entry.key.value, name = berthName(composeName), path = "networks.\(composeName)"
            networkNames[composeName] = name
            var subnet: String?
            var fields: [(key: String, value: YAMLOut, comment: String?)] = []
            // Compose's macvlan driver is berth's macvlan network: the LAN's subnet, addresses of the LAN.
            let macvlan = entry.value["driver"].flatMap { $0.scalar?.value } == "macvlan"
            for option in entry.value.entries ?? [] {
                let key = option.key.value, p = "\(path).\(key)"
                switch key {
                case "ipam":
                    if let config = option.value["config"]?.items?.first, let s = config["subnet"] {
                        subnet = text(s, "\(p).config[0].subnet")
                        if let g = config["gateway"], let gateway = text(g, "\(p).config[0].gateway") {
                            fields.append(("gateway", .string(gateway), nil))
                        }
                        if let r = config["ip_range"], let range = text(r, "\(p).config[0].ip_range") {
                            fields.append(("ipRange", .string(range), nil))
                        }
                    }
                case "driver":
                    if let d = text(option.value, p), d != "bridge", d != "macvlan" {
                        warn(option.value, p, "driver \(d): berth networks are Linux bridges, or macvlan")
                    } else if macvlan {
                        fields.append(("mode", .string("macvlan"), nil))
                    }
                case "driver_opts" where macvlan:
                    for opt in option.value.entries ?? [] {
                        let op = "\(p).\(opt.key.value)"
                        switch opt.key.value {
                        case "parent": if let parent = text(opt.value, op) { fields.append(("parent", .string(parent), nil)) }
                        case "macvlan_mode":
                            if let m = text(opt.value, op), m != "bridge" { warn(opt.value, op, "\(quoted(m)): berth's macvlan children are in bridge mode") }
                        default: warn(key: opt.key, op, "berth's macvlan networks take parent only; left out")
                        }
                    }
                case "driver_opts":
                    if let mtu = option.value["com.docker.network.driver.mtu"], let t = text(mtu, "\(p).mtu") {
                        fields.append(("mtu", .raw(t), nil))
                    } else {
                        warn(key: option.key, p, "driver options are not mapped")
                    }
                case "internal":
                    // berth's networks have no outbound NAT unless masquerade is set: internal already.
                    break
                case "external":
                    warn(key: option.key, p, "an external network is made by berth like any other; it is not shared with other projects")
                case "name":
                    break
                case _ where key.hasPrefix("x-"):
                    break
                default:
                    warn(key: option.key, p, "berth networks take a subnet, gateway, MTU and internal; left out")
                }
            }
            if let subnet { subnetsUsed.insert(subnet) }
            if macvlan && subnet == nil {
                warn(entry.value, path, "a macvlan network is on the LAN: write the LAN's subnet (ipam.config[0].subnet); berth chose a placeholder")
            }
            let chosen = subnet ?? nextSubnet()
            let isInternal = entry.value["internal"]?.scalar?.boolValue ?? false
            // On the LAN the containers have addresses of the LAN: nothing to masquerade.
            if !isInternal && !macvlan { fields.append(("masquerade", .raw("true"), "Compose networks reach the outside unless internal.")) }
            out.append((name, .map([("subnet", .string(chosen), subnet == nil ? "Chosen by the import: Compose lets the engine pick one." : nil)] + fields), nil))
        }
        return out
    }

    mutating func declareVolumes(_ node: YAMLNode?) -> [(key: String, value: YAMLOut, comment: String?)] {
        guard let node, let entries = node.entries else { return [] }
        var out: [(key: String, value: YAMLOut, comment: String?)] = []
        for entry in entries where !entry.key.value.hasPrefix("x-") {
            let name = berthName(entry.key.value)
            volumeNames[entry.key.value] = name
            for option in entry.value.entries ?? [] where !option.key.value.hasPrefix("x-") {
                let p = "volumes.\(entry.key.value).\(option.key.value)"
                switch option.key.value {
                case "driver", "driver_opts": warn(key: option.key, p, "berth volumes are directories under its state directory; \(option.key.value) is not mapped")
                case "external": warn(key: option.key, p, "an external volume is made by berth, empty, on first use")
                case "name", "labels": break
                default: warn(key: option.key, p, "berth volumes are plain directories; left out")
                }
            }
            out.append((name, .map([]), nil))
        }
        return out
    }

    /// Lowercase, `_` and `.` become `-`: Compose allows more in names than berth.
    func berthName(_ s: String) -> String {
        var out = String(s.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
        while out.hasPrefix("-") { out.removeFirst() }
        if out.isEmpty { out = "x" }
        return String(out.prefix(63))
    }
}

/// POSIX shell word splitting as Compose applies it to string commands (quotes and
/// backslashes; no expansion).
enum ShellWords {
    static func split(_ s: String) -> [String]? {
        var words: [String] = []
        var current = "", inWord = false
        var quote: Character? = nil
        var escape = false
        for c in s {
            if escape { current.append(c); escape = false; inWord = true; continue }
            if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escape = true } else { current.append(c) }
                continue
            }
            switch c {
            case "\\": escape = true
            case "\"", "'": quote = c; inWord = true
            case " ", "\t", "\n":
                if inWord { words.append(current); current = ""; inWord = false }
            default: current.append(c); inWord = true
            }
        }
        if quote != nil || escape { return nil }
        if inWord { words.append(current) }
        return words
    }
}
