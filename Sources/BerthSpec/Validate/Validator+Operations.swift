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
