import BerthSpec
import Foundation
import Testing

@Suite("security.seccomp: profile files are checked when the spec is read")
struct SeccompProfileValidationTests {
    /// A spec naming `./profile.json` in a fresh directory holding `profile`.
    func load(profile: String) throws -> Result<Spec, SpecError> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-seccomp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try profile.write(toFile: dir + "/profile.json", atomically: true, encoding: .utf8)
        let spec = """
            version: 1
            containers:
              web:
                rootfs: ./r
                command: [a]
                security: {seccomp: ./profile.json}
            """
        return SpecLoader.load(text: spec, fileName: "web.yaml", baseDirectory: dir)
    }

    @Test func aValidProfileIsKeptWithItsText() throws {
        let text = #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#
        let spec = try load(profile: text).get()
        guard case .file(let path, let profile) = spec.containers[0].security.seccomp else {
            Issue.record("not a profile file: \(spec.containers[0].security.seccomp)")
            return
        }
        #expect(path.hasSuffix("/profile.json"))
        #expect(profile == text)
    }

    @Test func problemsAreReportedAtTheirPlaceInTheProfile() throws {
        let text = """
            {
              "defaultAction": "SCMP_ACT_ERNO",
              "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]},
                {"names": ["read"]}
              ]
            }
            """
        guard case .failure(let error) = try load(profile: text) else {
            Issue.record("accepted")
            return
        }
        let found = error.diagnostics.map { "\($0.file):\($0.line):\($0.column): \($0.path): \($0.message)" }
        #expect(found.contains(#"./profile.json:2:20: defaultAction: "SCMP_ACT_ERNO" is not a seccomp action"#), "\(found)")
        #expect(found.contains("./profile.json:5:25: syscalls[0].args[0].index: 7 is out of range"), "\(found)")
        #expect(found.contains(#"./profile.json:6:5: syscalls[1]: missing "action""#), "\(found)")
        #expect(error.diagnostics.first { $0.message.contains("SCMP_ACT_ERNO") }?.hint == #"did you mean "SCMP_ACT_ERRNO"?"#)
    }

    @Test func malformedJSONIsASyntaxErrorInTheProfile() throws {
        guard case .failure(let error) = try load(profile: "{\"defaultAction\": [") else {
            Issue.record("accepted")
            return
        }
        #expect(error.diagnostics.allSatisfy { $0.file == "./profile.json" }, "\(error.diagnostics)")
        #expect(!error.diagnostics.isEmpty)
    }
}
