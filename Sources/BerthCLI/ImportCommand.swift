import ArgumentParser
import BerthConvert
import BerthKernel
import BerthSpec
import FoundationEssentials
import SystemPackage

/// `berth import compose FILE [-o spec.yaml]`.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Convert another tool's files into a berth spec.",
        subcommands: [ImportCompose.self])
}

struct ImportCompose: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose",
        abstract: "Convert a Compose file into a berth spec, warning with line:col for what does not map.",
        discussion: """
        Variables are interpolated from the environment and the .env file beside the Compose \
        file, as Compose does. Exit 1 only when the file is not a Compose file; every warning \
        names the Compose line and what berth does instead.
        """)

    @Argument(help: "The Compose file (compose.yaml, docker-compose.yml).")
    var file: String
    @Option(name: .shortAndLong, help: ArgumentHelp("Write the spec here (default: standard output).", valueName: "spec.yaml"))
    var output: String?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CLIError("cannot read \(file)")
        }
        let path = FilePath(file).isAbsolute ? FilePath(file) : FilePath(FileManager.default.currentDirectoryPath).appending(file)
        let importer = ComposeImporter(environment: ProcessInfo.processInfo.environment,
                                       schemaPath: Self.schemaPath(for: output))
        let result: ComposeImport
        do {
            result = try importer.convert(bytes: Array(data), fileName: file, directory: path.removingLastComponent().string)
        } catch {
            StandardStreams.writeError(DiagnosticRenderer.forStandardError().render(SpecError(diagnostics: error.diagnostics, source: Array(data))))
            throw ExitCode.failure
        }
        for warning in result.warnings { Console.err(warning.description) }
        if let output, output != "-" {
            do {
                try result.spec.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw CLIError("cannot write \(output): \(FileErrorText.reason(error))")
            }
            Console.err("wrote \(output) (\(result.warnings.count) warning\(result.warnings.count == 1 ? "" : "s")); check it with `berth validate -f \(output)`")
        } else {
            StandardStreams.write(result.spec)
        }
    }

    /// berth's schema relative to where the spec is written: the nearest `schemas/berth-v1.schema.json`
    /// in the directories above it (a checkout of berth), else that path as it would be in one.
    static func schemaPath(for output: String?) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let target = output.flatMap { $0 == "-" ? nil : $0 }.map { $0.hasPrefix("/") ? $0 : cwd + "/" + $0 } ?? cwd + "/-"
        var dir = FilePath(target).removingLastComponent().string
        var ups = ""
        while true {
            if FileManager.default.fileExists(atPath: dir + "/schemas/berth-v1.schema.json") {
                return ups + "schemas/berth-v1.schema.json"
            }
            let parent = FilePath(dir).removingLastComponent().string
            if parent == dir { return "schemas/berth-v1.schema.json" }
            dir = parent
            ups += "../"
        }
    }
}
