/// Turns a parsed document into a ``Spec``, collecting every problem instead of
/// stopping at the first. Each `check…` function reports what is wrong with its
/// node and returns nil, so that the caller goes on with the next field.
final class Validator {
    let file: String
    let baseDirectory: String
    /// From the file name; nil for standard input, where `project` is required.
    let defaultProject: String?
    private(set) var diagnostics: [Diagnostic] = []

    // Facts kept for the checks across fields, which run once everything is read.
    var networkFacts: [NetworkFacts] = []
    var attachmentFacts: [AttachmentFacts] = []
    /// Every network name written, also of networks with errors.
    var declaredNetworks: [String] = []
    // volumes
    /// Every volume name written (also with errors), and each `{volume: NAME}` mount.
    var declaredVolumes: [String] = []
    var volumeMountFacts: [VolumeMountFacts] = []
    /// Published ports as written (networks).
    var portFacts: [PortFacts] = []
    // lan
    /// Every NIC named by `uplink:` or `parent:`.
    var uplinkFacts: [UplinkFacts] = []
    /// The first network of each container with published ports.
    var firstNetworkOfPorts: [PortNetworkFacts] = []

    struct NetworkFacts {
        var network: Network
        var keyLocation: SourceLocation
        var subnetLocation: SourceLocation
        /// Where the bridge name was written; nil when it was derived.
        var bridgeLocation: SourceLocation?
    }

    struct AttachmentFacts {
        var container: String
        var network: String
        var ip: IPv4Address?
        var location: SourceLocation
        var path: String
    }

    init(file: String, baseDirectory: String, defaultProject: String?) {
        self.file = file
        self.baseDirectory = baseDirectory
        self.defaultProject = defaultProject
    }

    /// Past this many, a file's problems are counted but no longer kept: hostile input must
    /// not turn into hundreds of megabytes of messages.
    static let maxDiagnostics = 1000
    /// Every problem found, also those past ``maxDiagnostics``.
    private(set) var errorCount = 0
    /// No more diagnostics are kept: skip the costly hints.
    var isFull: Bool { diagnostics.count > Validator.maxDiagnostics }

    func error(_ location: SourceLocation, _ path: String, _ message: String, hint: String? = nil) {
        errorCount += 1
        if diagnostics.count < Validator.maxDiagnostics {
            diagnostics.append(Diagnostic(file: file, location: location, path: path, message: message, hint: hint))
        } else if diagnostics.count == Validator.maxDiagnostics {
            diagnostics.append(Diagnostic(file: file, location: location, path: "",
                                          message: "more than \(Validator.maxDiagnostics) problems; berth stops reporting here"))
        }
    }

    /// Diagnostics found in another file (a seccomp profile the spec names), kept in order.
    func absorb(_ others: [Diagnostic]) {
        for d in others { diagnostics.append(d) }
        errorCount += others.count
    }

    func error(_ location: SourceLocation, _ path: String, _ problem: ValueError) {
        error(location, path, problem.message, hint: problem.hint)
    }

    // MARK: - The document

    static let topLevelKeys = ["version", "project", "networks", "containers", "volumes"]

    func validate(_ root: YAMLNode) -> Spec? {
        guard let fields = fields(of: root, path: "", known: Validator.topLevelKeys, what: "a spec") else {
            return nil
        }

        if let entry = fields["version"] {
            checkVersion(entry.value)
        } else {
            error(root.location, "", "missing \"version\"", hint: "add `version: 1` at the top")
        }

        var project = "invalid"
        if let entry = fields["project"] {
            if let name = string(entry.value, "project") {
                if let problem = Names.projectProblem(with: name) {
                    error(entry.value.location, "project", "\(quoted(name)) \(problem)", hint: "use e.g. \"demo\"")
                } else {
                    project = name
                }
            }
        } else if let fallback = defaultProject {
            if let problem = Names.projectProblem(with: fallback) {
                error(root.location, "project",
                      "the project name taken from the file name, \(quoted(fallback)), \(problem)",
                      hint: "set `project:` in the spec, or rename the file")
            } else {
                project = fallback
            }
        } else {
            error(root.location, "project", "missing \"project\", which a spec read from standard input must set",
                  hint: "add e.g. `project: demo`")
        }

        var networks: [Network] = []
        if let entry = fields["networks"] {
            networks = checkNetworks(entry.value, project: project)
        }

        var containers: [Container] = []
        if let entry = fields["containers"] {
            containers = checkContainers(entry.value)
        } else {
            error(root.location, "", "missing \"containers\"", hint: "a spec runs at least one container")
        }

        let volumes = fields["volumes"].map { checkVolumes($0.value) } ?? []

        checkAcrossFields()
        checkVolumeMounts()
        guard diagnostics.isEmpty else { return nil }
        return Spec(version: 1, project: project, networks: networks, containers: containers, volumes: volumes)
    }

    private func checkVersion(_ node: YAMLNode) {
        guard let s = node.scalar, s.kind == .int, let v = s.intValue else {
            if let s = node.scalar, s.kind == .string, s.value == "1" {
                error(node.location, "version", "must be the number 1, not the string \"1\"", hint: "write `version: 1` without quotes")
            } else if node.scalar?.kind == .string || node.scalar?.kind == .float {
                error(node.location, "version", "must be the number 1, found \(node.kindDescription)",
                      hint: "berth's own format has version 1; a Compose file is not a berth spec")
            } else {
                error(node.location, "version", "must be the number 1, found \(node.kindDescription)")
            }
            return
        }
        if v != 1 {
            error(node.location, "version", "version \(v) is not supported; this berth reads version 1")
        }
    }

    // MARK: - Mappings and keys

    /// The entries of a mapping, without `x-` extension keys, for lookup by key.
    struct Fields {
        /// Only known keys, so at most a couple of dozen: a linear search beats hashing.
        var entries: [YAMLNode.Entry]

        init(_ entries: [YAMLNode.Entry]) {
            self.entries = entries
        }

        subscript(key: String) -> YAMLNode.Entry? {
            entries.first { $0.key.value == key }
        }
    }

    static func isExtension(_ key: String) -> Bool { key.hasPrefix("x-") }

    /// Reads a mapping whose keys are fixed; reports unknown keys with a "did you mean".
    func fields(of node: YAMLNode, path: String, known: [String], what: String) -> Fields? {
        guard let entries = mapping(node, path, what: what) else { return nil }
        var kept: [YAMLNode.Entry] = []
        kept.reserveCapacity(entries.count)
        for entry in entries {
            let key = entry.key.value
            if Validator.isExtension(key) { continue }
            if known.contains(key) {
                kept.append(entry)
            } else if isFull {
                error(entry.key.location, join(path, key), "unknown key")
            } else {
                error(entry.key.location, join(path, key), "unknown key \(quoted(key)) in \(what)",
                      hint: Suggestions.hint(for: key, among: known) ?? "expected one of: \(known.joined(separator: ", "))")
            }
        }
        return Fields(kept)
    }

    /// Reads a mapping whose keys are names (containers, networks): `x-` keys are skipped.
    func namedEntries(of node: YAMLNode, path: String, what: String) -> [YAMLNode.Entry]? {
        mapping(node, path, what: what)?.filter { !Validator.isExtension($0.key.value) }
    }

    func mapping(_ node: YAMLNode, _ path: String, what: String) -> [YAMLNode.Entry]? {
        guard let entries = node.entries else {
            let explained = what.contains("mapping") ? what : "\(what) (a mapping of keys to values)"
            error(node.location, path, "must be \(explained), found \(node.kindDescription)")
            return nil
        }
        return entries
    }

    func sequence(_ node: YAMLNode, _ path: String, example: String) -> [YAMLNode]? {
        guard let items = node.items else {
            error(node.location, path, "must be a list, found \(node.kindDescription)", hint: "write e.g. \(example)")
            return nil
        }
        return items
    }

    // MARK: - Scalars

    /// A string scalar; numbers, booleans and empty values are refused (quote them).
    func string(_ node: YAMLNode, _ path: String) -> String? {
        guard let s = node.scalar, s.kind == .string else {
            var hint: String?
            if let s = node.scalar, s.kind == .int || s.kind == .float || s.kind == .bool {
                hint = "quote it: \"\(s.value)\""
            }
            error(node.location, path, "must be a string, found \(node.kindDescription)", hint: hint)
            return nil
        }
        return checkNoNUL(s.value, node, path)
    }

    /// Any non-empty scalar as written: for argv words and environment values, where
    /// `10` and `true` mean the text, as in Compose.
    func text(_ node: YAMLNode, _ path: String) -> String? {
        guard let s = node.scalar, s.kind != .null else {
            let hint = node.scalar != nil ? "write \"\" for an empty string" : nil
            error(node.location, path, "must be a string, found \(node.kindDescription)", hint: hint)
            return nil
        }
        return checkNoNUL(s.value, node, path)
    }

    private func checkNoNUL(_ value: String, _ node: YAMLNode, _ path: String) -> String? {
        if value.utf8.contains(0) {
            error(node.location, path, "contains a NUL character")
            return nil
        }
        return value
    }

    func integer(_ node: YAMLNode, _ path: String, in range: ClosedRange<Int>) -> Int? {
        guard let s = node.scalar, s.kind == .int else {
            var hint: String?
            if let s = node.scalar, s.kind == .string, YAMLScalar.isIntegerSyntax(s.value) {
                hint = "write it without quotes"
            }
            error(node.location, path, "must be a whole number, found \(node.kindDescription)", hint: hint)
            return nil
        }
        guard let v = s.intValue, range.contains(v) else {
            error(node.location, path, "\(s.value) is out of range", hint: "use \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return v
    }

    func bool(_ node: YAMLNode, _ path: String) -> Bool? {
        guard let s = node.scalar, let b = s.boolValue else {
            var hint: String?
            if let s = node.scalar, ["yes", "no", "on", "off", "y", "n"].contains(s.value.lowercased()) {
                hint = "YAML 1.2 reads \(quoted(s.value)) as a string; write true or false"
            }
            error(node.location, path, "must be true or false, found \(node.kindDescription)", hint: hint)
            return nil
        }
        return b
    }

    /// The text of a scalar that may be written as a number or a string (sizes, CPUs).
    func numberOrString(_ node: YAMLNode, _ path: String, what: String) -> String? {
        guard let s = node.scalar, s.kind == .int || s.kind == .float || s.kind == .string else {
            error(node.location, path, "must be \(what), found \(node.kindDescription)")
            return nil
        }
        return checkNoNUL(s.value, node, path)
    }

    func size(_ node: YAMLNode, _ path: String) -> ByteSize? {
        guard let s = node.scalar, s.kind == .int || s.kind == .string else {
            error(node.location, path, "must be a size such as 128Mi, found \(node.kindDescription)")
            return nil
        }
        do {
            return try ByteSize(parsing: s.value)
        } catch {
            self.error(node.location, path, error)
            return nil
        }
    }

    func ipv4(_ node: YAMLNode, _ path: String) -> IPv4Address? {
        guard let text = string(node, path) else { return nil }
        guard let address = IPv4Address(text) else {
            error(node.location, path, "\(quoted(text)) is not an IPv4 address", hint: "use four decimal numbers, e.g. 10.88.1.10")
            return nil
        }
        return address
    }

    /// An absolute path inside the container; `..` is refused so that a target cannot climb out.
    func absolutePath(_ node: YAMLNode, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        guard text.hasPrefix("/") else {
            error(node.location, path, "\(quoted(text)) is not an absolute path", hint: "start it with /")
            return nil
        }
        if text.split(separator: "/").contains("..") {
            error(node.location, path, "\(quoted(text)) contains \"..\"")
            return nil
        }
        return Paths.clean(text)
    }

    /// A path on the host: relative ones resolve against the spec file's directory.
    func hostPath(_ node: YAMLNode, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        guard !text.isEmpty else {
            error(node.location, path, "is empty", hint: "use a path relative to the spec file, e.g. ./rootfs/busybox")
            return nil
        }
        return Paths.resolve(text, against: baseDirectory)
    }

    func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }
}
