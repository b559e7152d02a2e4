extension Validator {
    static let loggingKeys = ["maxSize", "maxFiles"]

    /// `logging: {maxSize, maxFiles}`.
    func checkLogging(_ node: YAMLNode, _ path: String) -> Logging {
        var logging = Logging()
        guard let fields = fields(of: node, path: path, known: Validator.loggingKeys, what: "log rotation settings") else {
            return logging
        }
        if let e = fields["maxSize"] {
            let p = join(path, "maxSize")
            if let size = size(e.value, p) {
                if size.bytes != 0 && size.bytes < Logging.minimumSize {
                    error(e.value.location, p, "\(quoted(size.text)) is less than 4Ki, too little for a log file",
                          hint: "use e.g. 10Mi, or 0 for one file without a bound")
                } else {
                    logging.maxSize = size
                }
            }
        }
        if let e = fields["maxFiles"] {
            logging.maxFiles = integer(e.value, join(path, "maxFiles"), in: 1...1000) ?? logging.maxFiles
        }
        return logging
    }
}

extension Validator {
    static let healthcheckKeys = ["test", "interval", "timeout", "retries", "startPeriod", "startInterval", "onUnhealthy"]

    /// `healthcheck:`; nil for `test: ["NONE"]` (no check) or when it is invalid.
    func checkHealthcheck(_ node: YAMLNode, _ path: String) -> Healthcheck? {
        guard let fields = fields(of: node, path: path, known: Validator.healthcheckKeys, what: "a healthcheck") else {
            return nil
        }
        var check = Healthcheck(test: .command(["/"]))
        // Every field is checked, also when the test is wrong: all errors at once.
        let test = checkHealthTest(fields["test"], node, join(path, "test"))
        func span(_ key: String, minimum: Int) -> TimeSpan? {
            guard let e = fields[key] else { return nil }
            let p = join(path, key)
            if let s = e.value.scalar, s.kind == .int {
                error(e.value.location, p, "\(s.value) has no unit", hint: "write e.g. \"\(s.value)s\"")
                return nil
            }
            guard let text = string(e.value, p) else { return nil }
            do {
                let value = try TimeSpan(parsing: text)
                if value.milliseconds < minimum {
                    error(e.value.location, p, "\(quoted(text)) is too short", hint: "use at least \(TimeSpan.format(minimum))")
                    return nil
                }
                return value
            } catch {
                self.error(e.value.location, p, error)
                return nil
            }
        }
        check.interval = span("interval", minimum: 100) ?? check.interval
        check.timeout = span("timeout", minimum: 100) ?? check.timeout
        check.startPeriod = span("startPeriod", minimum: 0) ?? check.startPeriod
        check.startInterval = span("startInterval", minimum: 100) ?? check.startInterval
        if let e = fields["retries"] { check.retries = integer(e.value, join(path, "retries"), in: 1...1000) ?? check.retries }
        if let e = fields["onUnhealthy"], let text = string(e.value, join(path, "onUnhealthy")) {
            if let value = Healthcheck.OnUnhealthy(rawValue: text) {
                check.onUnhealthy = value
            } else {
                let names = Healthcheck.OnUnhealthy.allCases.map(\.rawValue)
                error(e.value.location, join(path, "onUnhealthy"), "\(quoted(text)) is not restart or none",
                      hint: Suggestions.hint(for: text, among: names) ?? "use restart or none")
            }
        }
        guard case .some(.some(let valid)) = test else { return nil }
        check.test = valid
        return check
    }

    /// `healthcheck: {test: ["NONE"]}`: no check, also none from the image.
    static func isNoneHealthcheck(_ node: YAMLNode) -> Bool {
        guard let items = node["test"]?.items, items.count == 1 else { return false }
        return items[0].scalar?.value == "NONE"
    }

    /// The test: nil when invalid, `.some(nil)` for ["NONE"].
    private func checkHealthTest(_ entry: YAMLNode.Entry?, _ parent: YAMLNode, _ testPath: String) -> Healthcheck.Test?? {
        guard let testEntry = entry else {
            error(parent.location, testPath.dropLast(5).description, "missing \"test\"",
                  hint: "add e.g. `test: [\"CMD-SHELL\", \"wget -q -O /dev/null http://localhost/\"]`")
            return nil
        }
        let example = "[\"CMD\", \"pg_isready\"], [\"CMD-SHELL\", \"curl -f http://localhost/\"] or [\"NONE\"]"
        guard let items = sequence(testEntry.value, testPath, example: example) else { return nil }
        var words: [String] = []
        for (i, item) in items.enumerated() {
            if let word = text(item, "\(testPath)[\(i)]") { words.append(word) }
        }
        guard words.count == items.count else { return nil }
        switch words.first {
        case "NONE":
            if words.count > 1 {
                error(testEntry.value.location, testPath, "[\"NONE\"] takes nothing after NONE")
                return nil
            }
            return .some(nil)
        case "CMD":
            guard words.count > 1, !words[1].isEmpty else {
                error(testEntry.value.location, testPath, "CMD needs a command after it", hint: "write e.g. [\"CMD\", \"pg_isready\"]")
                return nil
            }
            return .command(Array(words.dropFirst()))
        case "CMD-SHELL":
            guard words.count == 2, !words[1].isEmpty else {
                error(testEntry.value.location, testPath, "CMD-SHELL takes exactly one script",
                      hint: "write e.g. [\"CMD-SHELL\", \"test -e /tmp/ready\"]")
                return nil
            }
            return .shell(words[1])
        default:
            error(items.first?.location ?? testEntry.value.location, testPath,
                  "must begin with CMD, CMD-SHELL or NONE, found \(words.first.map { quoted($0) } ?? "an empty list")",
                  hint: "write e.g. \(example)")
            return nil
        }
    }
}

extension Validator {
    static let dependencyKeys = ["condition", "restart"]

    /// `dependsOn:` as a list of names (condition `started`) or a mapping of names to
    /// `{condition, restart}`. Names are checked against the spec by ``checkDependencyGraph(_:_:)``.
    func checkDependsOn(_ node: YAMLNode, _ path: String, container: String) -> [Dependency] {
        var out: [Dependency] = []
        func add(_ name: String, _ location: SourceLocation, _ dependency: Dependency) {
            if name == container {
                error(location, join(path, name), "a container cannot depend on itself")
            } else if out.contains(where: { $0.name == name }) {
                error(location, join(path, name), "\(quoted(name)) is listed twice")
            } else {
                out.append(dependency)
            }
        }
        if let items = node.items {
            for (i, item) in items.enumerated() {
                guard let name = string(item, "\(path)[\(i)]") else { continue }
                add(name, item.location, Dependency(name: name))
            }
            return out
        }
        guard let entries = namedEntries(of: node, path: path,
                                         what: "a list of container names, or a mapping of names to {condition, restart}")
        else { return out }
        for entry in entries {
            let name = entry.key.value
            let p = join(path, name)
            var dependency = Dependency(name: name)
            if entry.value.scalar?.kind == .null {
                add(name, entry.key.location, dependency)
                continue
            }
            guard let fields = fields(of: entry.value, path: p, known: Validator.dependencyKeys, what: "a dependency") else {
                continue
            }
            if let e = fields["condition"], let text = string(e.value, join(p, "condition")) {
                if let condition = Dependency.Condition(rawValue: text) {
                    dependency.condition = condition
                } else {
                    let names = Dependency.Condition.allCases.map(\.rawValue)
                    error(e.value.location, join(p, "condition"), "\(quoted(text)) is not a condition",
                          hint: Suggestions.hint(for: text.hasPrefix("service_") ? String(text.dropFirst(8)) : text, among: names)
                              ?? "use one of: \(names.joined(separator: ", "))")
                }
            }
            if let e = fields["restart"] { dependency.restart = bool(e.value, join(p, "restart")) ?? false }
            add(name, entry.key.location, dependency)
        }
        return out
    }

    /// Across containers: every dependency names a container of the spec, `healthy` one
    /// with a healthcheck, `completed` one that is not `restart: always`, and there is no cycle
    /// (reported once, on the first container of it in the file, spelled out).
    func checkDependencyGraph(_ entries: [YAMLNode.Entry], _ containers: [Container]) {
        let names = Set(entries.map(\.key.value))
        let byName = Dictionary(containers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func location(_ container: String, _ dependency: String) -> SourceLocation {
            let entry = entries.first { $0.key.value == container }
            let list = entry?.value.entries?.first { $0.key.value == "dependsOn" }
            if let items = list?.value.items, let item = items.first(where: { $0.scalar?.value == dependency }) {
                return item.location
            }
            return list?.value.entries?.first { $0.key.value == dependency }?.key.location
                ?? list?.key.location ?? entry?.key.location ?? SourceLocation(line: 1, column: 1)
        }
        for c in containers {
            for d in c.dependsOn {
                let path = "containers.\(c.name).dependsOn.\(d.name)"
                guard names.contains(d.name) else {
                    error(location(c.name, d.name), path, "no container is called \(quoted(d.name))",
                          hint: Suggestions.hint(for: d.name, among: Array(names).sorted()))
                    continue
                }
                guard let target = byName[d.name] else { continue }
                // A container from an image may have the image's own Healthcheck (known once the
                // image is in the store: apply checks it then, see DependencyWait).
                if d.condition == .healthy && target.healthcheck == nil && (target.image == nil || target.healthcheckNone == true) {
                    error(location(c.name, d.name), path, "condition healthy needs a healthcheck on \(d.name)",
                          hint: "add `healthcheck:` to \(d.name), or use condition: started")
                }
                if d.condition == .completed && target.restart == .always {
                    error(location(c.name, d.name), path, "condition completed needs a job that ends: \(d.name) has restart: always",
                          hint: "give \(d.name) `restart: never` (or on-failure)")
                }
            }
        }
        // Cycles: a depth-first walk in file order; each cycle is reported once.
        var state: [String: Int] = [:] // 1: on the path, 2: done
        var path: [String] = []
        var reported = false
        func visit(_ name: String) {
            guard !reported, let c = byName[name] else { return }
            state[name] = 1
            path.append(name)
            for d in c.dependsOn where byName[d.name] != nil {
                if state[d.name] == 1 {
                    let cycle = Array(path[path.firstIndex(of: d.name)!...]) + [d.name]
                    error(location(name, d.name), "containers.\(name).dependsOn.\(d.name)",
                          "dependsOn makes a cycle: \(cycle.joined(separator: " -> "))",
                          hint: "remove one of these dependencies")
                    reported = true
                    return
                }
                if state[d.name] == nil { visit(d.name) }
                if reported { return }
            }
            path.removeLast()
            state[name] = 2
        }
        for c in containers where state[c.name] == nil && !reported { visit(c.name) }
    }
}
