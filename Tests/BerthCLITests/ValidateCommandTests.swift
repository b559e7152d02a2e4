import ArgumentParser
import BerthSpec
import Foundation
import Testing
@testable import BerthCLI

/// A directory of spec files for one test, removed afterwards.
final class SpecDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("berth-validate-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }
}

let validSpec = "version: 1\nnetworks:\n  front: {subnet: 10.88.1.0/24}\ncontainers:\n  web:\n    rootfs: ./r\n    command: [a]\n"
let invalidSpec = "version: 1\ncontainers:\n  web:\n    rootfs: ./r\n    command: [a]\n    resources:\n      memory: 12Zi\n    restart: sometimes\n"

@Suite("berth validate")
struct ValidateCommandTests {
    @Test("a valid file: one OK line, exit 0")
    func valid() throws {
        let dir = try SpecDirectory()
        let path = try dir.write("shop.yaml", validSpec)
        let outcome = ValidateCommand.check(files: [path], output: .text)
        #expect(outcome.exitCode == 0)
        #expect(outcome.standardOutput == "\(path): OK (project shop, 1 container, 1 network)\n")
        #expect(outcome.standardError.isEmpty)
    }

    @Test("an invalid file: every diagnostic with its source line, exit 1")
    func invalid() throws {
        let dir = try SpecDirectory()
        let path = try dir.write("bad.yaml", invalidSpec)
        let outcome = ValidateCommand.check(files: [path], output: .text)
        #expect(outcome.exitCode == 1)
        #expect(outcome.standardOutput.isEmpty)
        #expect(outcome.standardError == """
            \(path):7:15: error: containers.web.resources.memory: "12Zi" is not a size (use e.g. 128Mi)
             7 |       memory: 12Zi
               |               ^
            \(path):8:14: error: containers.web.restart: "sometimes" is not a restart policy (use one of: always, on-failure, never)
             8 |     restart: sometimes
               |              ^

            """)
    }

    @Test("several files: each checked, exit 1 if any is invalid")
    func several() throws {
        let dir = try SpecDirectory()
        let good = try dir.write("good.yaml", validSpec)
        let bad = try dir.write("bad.yaml", invalidSpec)
        let outcome = ValidateCommand.check(files: [good, bad, good], output: .text)
        #expect(outcome.exitCode == 1)
        #expect(outcome.standardOutput.split(separator: "\n").count == 2)
        #expect(outcome.standardError.contains("\(bad):7:15: error:"))
        let allGood = ValidateCommand.check(files: [good, good], output: .text)
        #expect(allGood.exitCode == 0)
    }

    @Test("--output json: a JSON array of diagnostics on standard output, nothing else")
    func json() throws {
        let dir = try SpecDirectory()
        let good = try dir.write("good.yaml", validSpec)
        let bad = try dir.write("bad.yaml", invalidSpec)
        let outcome = ValidateCommand.check(files: [good, bad], output: .json)
        #expect(outcome.exitCode == 1)
        #expect(outcome.standardError.isEmpty)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [[String: Any]])
        #expect(array.count == 2)
        #expect(array[0]["file"] as? String == bad)
        #expect(array[0]["line"] as? Int == 7)
        #expect(array[0]["column"] as? Int == 15)
        #expect(array[0]["path"] as? String == "containers.web.resources.memory")
        #expect(array[0]["message"] as? String == "\"12Zi\" is not a size")
        #expect(array[0]["hint"] as? String == "use e.g. 128Mi")
        #expect(Set(array[0].keys) == ["file", "line", "column", "path", "message", "hint"])
        let valid = ValidateCommand.check(files: [good], output: .json)
        #expect(valid.exitCode == 0)
        #expect(valid.standardOutput == "[]\n")
    }

    @Test("JSON escapes what needs escaping")
    func jsonEscaping() throws {
        let d = Diagnostic(file: "a\"b\\c.yaml", location: .file, path: "", message: "tab\there\nnl \u{1} end")
        let text = JSON.array([d])
        let array = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        #expect(array[0]["file"] as? String == "a\"b\\c.yaml")
        #expect(array[0]["message"] as? String == "tab\there\nnl \u{1} end")
        #expect(array[0]["hint"] == nil)
    }

    @Test("a missing file is an error that names it")
    func missingFile() {
        let outcome = ValidateCommand.check(files: ["/nonexistent/berth.yaml"], output: .text)
        #expect(outcome.exitCode == 1)
        #expect(outcome.standardError == "/nonexistent/berth.yaml: error: cannot read: No such file or directory\n")
    }

    @Test("colour only when asked for")
    func colour() throws {
        let dir = try SpecDirectory()
        let bad = try dir.write("bad.yaml", invalidSpec)
        #expect(!ValidateCommand.check(files: [bad], output: .text, colour: false).standardError.contains("\u{1B}["))
        let coloured = ValidateCommand.check(files: [bad], output: .text, colour: true).standardError
        #expect(coloured.contains("\u{1B}[1;31merror:\u{1B}[0m"))
    }

    @Test("the argument parser: -f is required, stdin only once, --output takes text or json")
    func arguments() throws {
        #expect(throws: (any Error).self) { try ValidateCommand.parse([]) }
        #expect(throws: (any Error).self) { try ValidateCommand.parse(["-f", "-", "-f", "-"]) }
        #expect(throws: (any Error).self) { try ValidateCommand.parse(["-f", "x.yaml", "--output", "yaml"]) }
        let command = try ValidateCommand.parse(["-f", "a.yaml", "--file", "b.yaml", "--output", "json"])
        #expect(command.files == ["a.yaml", "b.yaml"])
        #expect(command.output == .json)
        let viaRoot = try BerthCommand.parseAsRoot(["validate", "-f", "a.yaml"])
        #expect(viaRoot is ValidateCommand)
    }

    @Test("help text names the flags and the exit status")
    func help() {
        let help = ValidateCommand.helpMessage()
        #expect(help.contains("-f, --file <FILE>"))
        #expect(help.contains("--output <format>"))
        #expect(help.contains("Exit status: 0"))
        #expect(BerthCommand.helpMessage().contains("validate"))
    }

    @Test("the long source line is shortened around the column")
    func longLine() throws {
        let dir = try SpecDirectory()
        let path = try dir.write("long.yaml", "version: 1\nproject: " + String(repeating: "x", count: 500) + "\ncontainers:\n  web: {rootfs: ./r, command: [a]}\n")
        let outcome = ValidateCommand.check(files: [path], output: .text)
        let lines = outcome.standardError.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[1].count < 120)
        #expect(lines[2].hasSuffix("^"))
    }
}

/// The real binary, for what only a process can show: standard input and exit status.
@Suite("berth validate, as a process")
struct ValidateProcessTests {
    /// The berth executable that `swift build --build-tests` puts next to the test bundle.
    static let berth: String? = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidate = exe.deletingLastPathComponent().appendingPathComponent("berth").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }()

    func run(_ arguments: [String], input: String = "", environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        signal(SIGPIPE, SIG_IGN)
        let dir = try SpecDirectory()
        let files = ["in", "out", "err"].map { dir.url.appendingPathComponent($0) }
        try input.write(to: files[0], atomically: true, encoding: .utf8)
        for f in files.dropFirst() { _ = FileManager.default.createFile(atPath: f.path, contents: nil) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.berth!)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = dir.url
        process.standardInput = try FileHandle(forReadingFrom: files[0])
        process.standardOutput = try FileHandle(forWritingTo: files[1])
        process.standardError = try FileHandle(forWritingTo: files[2])
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: files[1], encoding: .utf8), try String(contentsOf: files[2], encoding: .utf8))
    }

    @Test("-f - reads standard input, shown as <stdin>", .enabled(if: berth != nil, "the berth executable is not built next to the tests"))
    func stdin() throws {
        let ok = try run(["validate", "-f", "-"], input: "project: piped\n" + validSpec)
        #expect(ok.status == 0)
        #expect(ok.out == "<stdin>: OK (project piped, 1 container, 1 network)\n")
        let bad = try run(["validate", "-f", "-"], input: invalidSpec)
        #expect(bad.status == 1)
        #expect(bad.err.hasPrefix("<stdin>:1:1: error: project: missing \"project\""))
        #expect(bad.err.contains("<stdin>:7:15: error: containers.web.resources.memory"))
    }

    @Test("exit status 1 and JSON for an invalid file; no colour when not a terminal", .enabled(if: berth != nil, "the berth executable is not built next to the tests"))
    func exitStatus() throws {
        let dir = try SpecDirectory()
        let bad = try dir.write("bad.yaml", invalidSpec)
        let text = try run(["validate", "-f", bad])
        #expect(text.status == 1)
        #expect(!text.err.contains("\u{1B}["))
        let json = try run(["validate", "-f", bad, "--output", "json"])
        #expect(json.status == 1)
        #expect(json.out.hasPrefix("[\n  {\"file\": "))
        let usage = try run(["validate"])
        #expect(usage.status == 64, "a usage error, as swift-argument-parser reports it")
    }
}
