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

    /// A JSON array of diagnostics, one a line, ending with a newline.
    static func array(_ diagnostics: [Diagnostic]) -> String {
        if diagnostics.isEmpty { return "[]\n" }
        return "[\n" + diagnostics.map { "  " + object($0) }.joined(separator: ",\n") + "\n]\n"
    }
}
