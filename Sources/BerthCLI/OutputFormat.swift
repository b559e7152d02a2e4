import ArgumentParser
import BerthKernel
import BerthSpec
import FoundationEssentials

/// `--output text|json`, shared by the commands that print for people or for programs.
public enum OutputFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    case text, json
}

/// `-p PROJECT` and `--output`, alike in the commands that list what berth has
/// (status, volume ls, volume prune).
struct ListingOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Only this project (default: every project).")
    var project: String?
    @Option(help: "text or json.")
    var output: OutputFormat = .text
}

/// A few lines of JSON writing, so that output has a stable key order and needs no Foundation.
enum JSON {
    /// A `--output json` document (status, volumes, images): pretty, keys sorted, slashes as they are.
    static func document(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A JSON string literal.
    static func string(_ s: String) -> String { JSONString.literal(s) }

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

    /// `value` (a document read as it is, such as an image's config) pretty, keys sorted,
    /// numbers and slashes as they were written: the layout of ``document(_:)``.
    static func pretty(_ value: InitJSON.Value) -> String {
        var out = ""
        write(value, indent: "", to: &out)
        return out
    }

    private static func write(_ value: InitJSON.Value, indent: String, to out: inout String) {
        let inner = indent + "  "
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSONString.append(s, to: &out)
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += inner
                write(item, indent: inner, to: &out)
                out += i == items.count - 1 ? "\n" : ",\n"
            }
            out += indent + "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            // A name written twice means its last value, as a JSON reader takes it.
            var byName: [String: InitJSON.Value] = [:]
            for (k, v) in members { byName[k] = v }
            let names = byName.keys.sorted()
            out += "{\n"
            for (i, name) in names.enumerated() {
                out += inner
                JSONString.append(name, to: &out)
                out += " : "
                write(byName[name]!, indent: inner, to: &out)
                out += i == names.count - 1 ? "\n" : ",\n"
            }
            out += indent + "}"
        }
    }

    /// A JSON array of diagnostics, one a line, ending with a newline.
    static func array(_ diagnostics: [Diagnostic]) -> String {
        if diagnostics.isEmpty { return "[]\n" }
        return "[\n" + diagnostics.map { "  " + object($0) }.joined(separator: ",\n") + "\n]\n"
    }
}
