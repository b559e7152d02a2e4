import ArgumentParser
import BerthSpec

/// `--output text|json`, shared by the commands that print for people or for programs.
public enum OutputFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    case text, json
}

/// A few lines of JSON writing, so that output has a stable key order and needs no Foundation.
enum JSON {
    /// A JSON string literal.
    static func string(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 {
                    let hex = String(ch.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out + "\""
    }

    /// `{"file": ..., "line": ..., "column": ..., "path": ..., "message": ..., "hint": ...}`;
    /// `hint` only when there is one.
    static func object(_ d: Diagnostic) -> String {
        var fields = [
            "\"file\": \(string(d.file))",
            "\"line\": \(d.line)",
            "\"column\": \(d.column)",
            "\"path\": \(string(d.path))",
            "\"message\": \(string(d.message))",
        ]
        if let hint = d.hint { fields.append("\"hint\": \(string(hint))") }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// A JSON array of diagnostics, one a line, ending with a newline.
    static func array(_ diagnostics: [Diagnostic]) -> String {
        if diagnostics.isEmpty { return "[]\n" }
        return "[\n" + diagnostics.map { "  " + object($0) }.joined(separator: ",\n") + "\n]\n"
    }
}
