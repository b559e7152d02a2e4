import BerthSpec

/// Compose's variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or
/// empty), `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (required),
/// `${VAR:+alt}` / `${VAR+alt}`, and `$$` for a literal `$`.
struct Interpolation {
    var environment: [String: String]

    enum Failure: Error, Equatable {
        /// `${VAR:?message}` of a variable that is unset (or empty).
        case required(String, message: String)
        case malformed(String)
    }

    func apply(_ text: String) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var chars = Array(text)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            guard c == "$" else {
                out.append(c)
                continue
            }
            guard let next = chars.first else {
                out.append("$")
                break
            }
            if next == "$" {
                out.append("$")
                chars = chars.dropFirst()
            } else if next == "{" {
                guard let close = matchingBrace(chars) else { throw .malformed(text) }
                let body = String(chars[chars.index(after: chars.startIndex)..<close])
                chars = chars[chars.index(after: close)...]
                out += try expand(body)
            } else if next == "_" || next.isLetter {
                let name = String(chars.prefix { $0 == "_" || $0.isLetter || $0.isNumber })
                chars = chars.dropFirst(name.count)
                out += environment[name] ?? ""
            } else {
                out.append("$")
            }
        }
        return out
    }

    /// The `}` closing the `{` at the start of `chars`, with nesting (defaults may interpolate).
    private func matchingBrace(_ chars: ArraySlice<Character>) -> ArraySlice<Character>.Index? {
        var depth = 0
        for i in chars.indices {
            if chars[i] == "{" { depth += 1 }
            if chars[i] == "}" {
                depth -= 1
                if depth == 0 { return i }
            }
        }
        return nil
    }

    private func expand(_ body: String) throws(Failure) -> String {
        let name = String(body.prefix { $0 == "_" || $0.isLetter || $0.isNumber })
        guard !name.isEmpty else { throw .malformed("${\(body)}") }
        let rest = body.dropFirst(name.count)
        let value = environment[name]
        if rest.isEmpty { return value ?? "" }
        for op in [":-", ":?", ":+", "-", "?", "+"] where rest.hasPrefix(op) {
            let arg = try apply(String(rest.dropFirst(op.count)))
            let unsetOrEmpty = value?.isEmpty ?? true, unset = value == nil
            switch op {
            case ":-": return unsetOrEmpty ? arg : value!
            case "-": return unset ? arg : value!
            case ":?": if unsetOrEmpty { throw .required(name, message: arg) }; return value!
            case "?": if unset { throw .required(name, message: arg) }; return value!
            case ":+": return unsetOrEmpty ? "" : arg
            default: return unset ? "" : arg
            }
        }
        throw .malformed("${\(body)}")
    }

    /// `.env` lines: `KEY=value`, `export KEY=value`, comments and blank lines skipped,
    /// single or double quotes around the value removed.
    static func parseEnvFile(_ text: String) -> [(String, String)] {
        var out: [(String, String)] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            var line = raw.trimmingCharacters(in: " \t")
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: " \t") }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq]).trimmingCharacters(in: " \t")
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: " \t")
            if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f {
                value = String(value.dropFirst().dropLast())
            } else if let hash = value.firstRange(of: " #") {
                value = String(value[..<hash.lowerBound]).trimmingCharacters(in: " \t")
            }
            if !key.isEmpty { out.append((key, value)) }
        }
        return out
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let s = self.drop { set.contains($0) }
        return String(String(s.reversed()).drop { set.contains($0) }.reversed())
    }
}

/// `"value"`, for messages.
func quoted(_ s: String) -> String { "\"\(s)\"" }
