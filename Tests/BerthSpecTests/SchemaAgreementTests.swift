import Foundation
import Testing
@testable import BerthSpec

/// berth and schemas/berth-v1.schema.json must agree: every example spec and valid
/// fixture passes both; every invalid fixture marked `# schema: reject` fails both.
@Suite("Schema agrees with berth")
struct SchemaAgreementTests {
    /// The python3 on PATH, the one `make test` installs jsonschema for.
    static let python: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        .split(separator: ":").map { "\($0)/python3" }
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Checks documents (name -> JSON) against the schema in one python3 run; returns
    /// the names the schema rejects, with the first reason.
    static func schemaVerdicts(_ documents: [String: Any]) throws -> [String: String] {
        let script = """
            import json, sys
            from jsonschema import Draft202012Validator
            schema = json.load(open(sys.argv[1]))
            Draft202012Validator.check_schema(schema)
            validator = Draft202012Validator(schema)
            documents = json.load(open(sys.argv[2]))
            rejected = {}
            for name, document in documents.items():
                errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
                if errors:
                    e = errors[0]
                    rejected[name] = "/".join(map(str, e.absolute_path)) + ": " + e.message[:200]
            print(json.dumps(rejected))
            """
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-schema-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptFile = directory.appendingPathComponent("check.py")
        let documentsFile = directory.appendingPathComponent("documents.json")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        try JSONSerialization.data(withJSONObject: documents).write(to: documentsFile)
        let result = try run(python!, [scriptFile.path, Repository.schema.path, documentsFile.path])
        try #require(result.status == 0, "python3 failed (is jsonschema installed? `make test` installs it): \(result.error)")
        let verdicts = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: String]
        return verdicts
    }

    @Test("example specs and valid fixtures pass berth and the schema", .enabled(if: python != nil, "needs python3"))
    func validFilesPassBoth() throws {
        var documents: [String: Any] = [:]
        let files = Repository.yamlFiles(in: Repository.specs) + Repository.yamlFiles(in: Repository.fixtures.appendingPathComponent("valid"))
        #expect(files.count >= 15)
        for url in files {
            let name = url.path
            switch SpecLoader.load(path: url.path) {
            case .success: break
            case .failure(let error): Issue.record("berth rejects \(name):\n\(error)")
            }
            let text = try String(contentsOf: url, encoding: .utf8)
            guard let json = JSONFromYAML.json(text) else {
                Issue.record("\(name) is not YAML the schema can see")
                continue
            }
            documents[name] = json
        }
        let rejected = try Self.schemaVerdicts(documents)
        for (name, reason) in rejected.sorted(by: { $0.key < $1.key }) {
            Issue.record("the schema rejects \(name): \(reason)")
        }
    }

    @Test("invalid fixtures marked `schema: reject` fail berth and the schema", .enabled(if: python != nil, "needs python3"))
    func invalidFilesFailBoth() throws {
        let fixtures = Fixture.all("invalid").filter(\.schemaRejects)
        #expect(fixtures.count >= 80)
        var documents: [String: Any] = [:]
        for fixture in fixtures {
            if case .success = fixture.load() { Issue.record("berth accepts \(fixture.name)") }
            guard let json = JSONFromYAML.json(fixture.text) else {
                Issue.record("\(fixture.name) is not YAML the schema can see")
                continue
            }
            documents[fixture.name] = json
        }
        let rejected = try Self.schemaVerdicts(documents)
        for fixture in fixtures where rejected[fixture.name] == nil {
            Issue.record("the schema accepts \(fixture.name), which is marked `# schema: reject`")
        }
    }

    @Test("every field of the schema has a description", .enabled(if: python != nil, "needs python3"))
    func everyFieldIsDescribed() throws {
        let data = try Data(contentsOf: Repository.schema)
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var missing: [String] = []
        func walk(_ node: Any, _ path: String) {
            guard let object = node as? [String: Any] else {
                if let array = node as? [Any] { for (i, item) in array.enumerated() { walk(item, "\(path)[\(i)]") } }
                return
            }
            if let properties = object["properties"] as? [String: Any] {
                for (key, value) in properties {
                    let field = value as? [String: Any] ?? [:]
                    // A property that only restricts another branch's field ("type": {"const": ...}) needs none.
                    let isRestriction = field.keys.allSatisfy { ["const", "contains"].contains($0) }
                    if field["description"] == nil, !isRestriction { missing.append("\(path).\(key)") }
                }
            }
            for (key, value) in object { walk(value, path + "/" + key) }
        }
        walk(schema, "")
        #expect(schema["description"] != nil)
        #expect(missing.isEmpty, "fields without a description: \(missing.sorted())")
    }

    @Test("every example spec starts with the schema modeline")
    func modelines() throws {
        let files = Repository.yamlFiles(in: Repository.specs)
        #expect(files.contains { $0.lastPathComponent == "demo.yaml" })
        for url in files {
            let text = try String(contentsOf: url, encoding: .utf8)
            #expect(text.hasPrefix("# yaml-language-server: $schema=../schemas/berth-v1.schema.json\n"), "\(url.lastPathComponent)")
        }
    }
}
