import Foundation
import Testing
@testable import BerthSpec

/// Where the package's own files are: specs/, schemas/, the fixtures.
enum Repository {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let specs = root.appendingPathComponent("specs")
    static let schema = root.appendingPathComponent("schemas/berth-v1.schema.json")

    static var fixtures: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    static func yamlFiles(in directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { directory.appendingPathComponent($0) }
    }
}

/// A fixture file and what its header comments promise:
/// `# expect: LINE:COL fragment` (one line per fragment of an expected diagnostic) and
/// `# schema: reject` when the JSON Schema rejects the file too.
struct Fixture: CustomTestStringConvertible, Sendable {
    struct Expectation: Sendable, CustomStringConvertible {
        var line: Int
        var column: Int
        var fragment: String
        var description: String { "\(line):\(column) \(fragment)" }
    }

    var url: URL
    var name: String { url.lastPathComponent }
    var text: String
    var expectations: [Expectation]
    var schemaRejects: Bool
    var testDescription: String { name }

    init(url: URL) throws {
        self.url = url
        text = try String(contentsOf: url, encoding: .utf8)
        var expectations: [Expectation] = []
        var schemaRejects = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("#") else { break }
            if line.hasPrefix("# schema: reject") { schemaRejects = true }
            guard line.hasPrefix("# expect: ") else { continue }
            let rest = line.dropFirst("# expect: ".count)
            let space = rest.firstIndex(of: " ")!
            let position = rest[..<space].split(separator: ":")
            expectations.append(Expectation(line: Int(position[0])!, column: Int(position[1])!,
                                            fragment: String(rest[rest.index(after: space)...])))
        }
        self.expectations = expectations
        self.schemaRejects = schemaRejects
    }

    static func all(_ kind: String) -> [Fixture] {
        Repository.yamlFiles(in: Repository.fixtures.appendingPathComponent(kind)).map { try! Fixture(url: $0) }
    }

    /// Loads it as `berth validate` would, named by its file name (which gives the default project).
    func load() -> Result<Spec, SpecError> {
        SpecLoader.load(text: text, fileName: name, baseDirectory: "/fixtures")
    }
}

extension Diagnostic {
    /// What a fixture's fragment is matched against: `path: message (hint)`.
    var matchText: String {
        (path.isEmpty ? "" : path + ": ") + message + (hint.map { " (\($0))" } ?? "")
    }
}

/// YAML to JSON through berth's own parser, so that the schema sees exactly the data
/// berth validates (aliases expanded, merge keys applied, YAML 1.2 core types).
enum JSONFromYAML {
    static func convert(_ node: YAMLNode) -> Any {
        switch node.content {
        case .mapping(let entries):
            var object: [String: Any] = [:]
            for e in entries { object[e.key.value] = convert(e.value) }
            return object
        case .sequence(let items):
            return items.map(convert)
        case .scalar(let s):
            switch s.kind {
            case .null: return NSNull()
            case .bool: return s.boolValue!
            case .int: return s.intValue.map { $0 as Any } ?? s.value
            case .float:
                let d = s.doubleValue!
                return d.isFinite ? d as Any : s.value
            case .string: return s.value
            }
        }
    }

    /// nil when the document does not parse.
    static func json(_ text: String) -> Any? {
        let parsed = YAMLParser.parse(Array(text.utf8), file: "x")
        guard parsed.diagnostics.isEmpty, let root = parsed.root else { return nil }
        return convert(root)
    }
}

/// Runs a program to its end; output goes through temporary files so that no pipe can fill up.
func run(_ executable: String, _ arguments: [String], input: Data = Data()) throws -> (status: Int32, output: String, error: String) {
    signal(SIGPIPE, SIG_IGN)
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("berth-spec-tests-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let files = ["in", "out", "err"].map { directory.appendingPathComponent($0) }
    try input.write(to: files[0])
    _ = FileManager.default.createFile(atPath: files[1].path, contents: nil)
    _ = FileManager.default.createFile(atPath: files[2].path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardInput = try FileHandle(forReadingFrom: files[0])
    process.standardOutput = try FileHandle(forWritingTo: files[1])
    process.standardError = try FileHandle(forWritingTo: files[2])
    try process.run()
    process.waitUntilExit()
    return (process.terminationStatus,
            try String(contentsOf: files[1], encoding: .utf8),
            try String(contentsOf: files[2], encoding: .utf8))
}
