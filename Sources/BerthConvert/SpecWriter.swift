/// A berth spec being written: ordered mappings, lists and scalars, with comments, turned
/// into block-style YAML that a person can keep editing.
indirect enum YAMLOut {
    /// Already rendered (a number, `true`, or a quoted string).
    case raw(String)
    case map([(key: String, value: YAMLOut, comment: String?)])
    case list([YAMLOut])
    /// A short list of scalars on one line: `[a, "b c"]`.
    case flow([String])

    static func string(_ s: String) -> YAMLOut { .raw(quote(s)) }

    /// Plain when YAML reads it back as the same string, double-quoted (JSON escapes) otherwise.
    static func quote(_ s: String) -> String {
        let plainSafe = !s.isEmpty && s.unicodeScalars.allSatisfy {
            ($0.value >= 48 && $0.value <= 57) || ($0.value >= 65 && $0.value <= 90) || ($0.value >= 97 && $0.value <= 122)
                || "/._-".unicodeScalars.contains($0)
        }
        let lower = s.lowercased()
        let looksTyped = ["true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"].contains(lower)
            || s.first.map { $0.isNumber || $0 == "-" || $0 == "." } ?? true
        if plainSafe && !looksTyped { return s }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    let hex = String(u.value, radix: 16)
                    out += "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    func render(indent: Int = 0) -> String {
        var out = ""
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .raw(let s):
            out += s
        case .flow(let items):
            out += "[" + items.map(Self.quote).joined(separator: ", ") + "]"
        case .map(let entries):
            for (key, value, comment) in entries {
                if let comment {
                    for line in comment.split(separator: "\n", omittingEmptySubsequences: false) {
                        out += pad + "# " + line + "\n"
                    }
                }
                out += pad + key + ":"
                out += value.renderAfterKey(indent: indent)
            }
        case .list(let items):
            for item in items {
                switch item {
                case .map(let entries) where !entries.isEmpty:
                    // `- key: value` with the other keys aligned under the first.
                    let body = item.render(indent: indent + 2)
                    out += pad + "- " + body.dropFirst(indent + 2)
                default:
                    out += pad + "-" + item.renderAfterKey(indent: indent)
                }
            }
        }
        return out
    }

    /// After `key:` or `-`: a scalar on the same line, a collection below.
    private func renderAfterKey(indent: Int) -> String {
        switch self {
        case .raw, .flow: return " " + render() + "\n"
        case .map(let entries) where entries.isEmpty: return " {}\n"
        case .list(let items) where items.isEmpty: return " []\n"
        case .map: return "\n" + render(indent: indent + 2)
        case .list: return "\n" + render(indent: indent + 2)
        }
    }
}
