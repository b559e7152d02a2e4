/// A position in a source file. Lines and columns count from 1; columns count
/// characters (Unicode scalars), as libyaml does.
public struct SourceLocation: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The location of problems that concern the whole file (it cannot be read, it is empty).
    public static let file = SourceLocation(line: 0, column: 0)

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// One problem found in a spec, positioned like a compiler error.
///
/// `description` is the line people read:
/// `specs/demo.yaml:12:15: error: containers.web.resources.memory: "12Zi" is not a size (use e.g. 128Mi)`.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file as the user named it, or `<stdin>`.
    public var file: String
    /// 1-based; 0 when the problem concerns the whole file.
    public var line: Int
    /// 1-based; 0 when the problem concerns the whole file.
    public var column: Int
    /// The key path of the offending value, e.g. `containers.web.resources.memory`; empty for syntax errors.
    public var path: String
    public var message: String
    /// A suggestion: the closest known key, the expected form, the corrected value.
    public var hint: String?

    public init(file: String, location: SourceLocation, path: String, message: String, hint: String? = nil) {
        self.file = file
        self.line = location.line
        self.column = location.column
        self.path = path
        self.message = message
        self.hint = hint
    }

    public var location: SourceLocation { SourceLocation(line: line, column: column) }

    public var description: String {
        var out = line > 0 ? "\(file):\(line):\(column): error: " : "\(file): error: "
        if !path.isEmpty { out += "\(path): " }
        out += message
        if let hint { out += " (\(hint))" }
        return out
    }

    /// Sorts diagnostics in source order; problems of the whole file come first, ties keep their order.
    public static func sorted(_ list: [Diagnostic]) -> [Diagnostic] {
        list.enumerated().sorted { a, b in
            if a.element.file != b.element.file { return a.offset < b.offset }
            if a.element.location != b.element.location { return a.element.location < b.element.location }
            return a.offset < b.offset
        }.map(\.element)
    }
}

/// The diagnostics of a spec that did not validate; never empty.
public struct SpecError: Error, Sendable, CustomStringConvertible {
    /// In source order.
    public var diagnostics: [Diagnostic]
    /// The bytes that were parsed (nil when the file could not be read), so that a renderer can quote lines.
    public var source: [UInt8]?

    public init(diagnostics: [Diagnostic], source: [UInt8]? = nil) {
        self.diagnostics = diagnostics
        self.source = source
    }

    /// One diagnostic a line.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
