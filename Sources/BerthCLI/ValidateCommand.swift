import ArgumentParser
import BerthSpec

/// `berth validate -f FILE...`: parse and validate, change nothing.
public struct ValidateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check spec files and report every problem, changing nothing.",
        discussion: """
            Reads each spec, checks every rule of format version 1 and prints all \
            problems of a file at once, in source order, like a compiler:

              demo.yaml:12:15: error: containers.web.resources.memory: "12Zi" is not a size

            A valid file gets one OK line on standard output; problems go to standard \
            error. Paths in a spec (rootfs, bind mount sources) are not required to \
            exist yet: apply checks them.

            Exit status: 0 when every file is valid, 1 otherwise.
            """
    )

    @Option(
        name: [.customShort("f"), .customLong("file")],
        help: ArgumentHelp("A spec file to check; `-` reads standard input. Repeat to check several.", valueName: "FILE"))
    public var files: [String] = []

    @Option(help: ArgumentHelp(
        "text: diagnostics for people on standard error; json: one JSON array of {file, line, column, path, message[, hint]} on standard output, for editors and CI.",
        valueName: "format"))
    public var output: OutputFormat = .text

    public init() {}

    public func validate() throws {
        if files.isEmpty { throw ValidationError("Give at least one spec file with -f FILE (or -f - for standard input).") }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("Standard input (-f -) can be read only once.") }
    }

    public func run() throws {
        let result = ValidateCommand.check(files: files, output: output, colour: DiagnosticRenderer.wantsColour(fd: 2))
        StandardStreams.write(result.standardOutput)
        StandardStreams.writeError(result.standardError)
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }

    /// What a run prints and how it exits.
    public struct Outcome: Sendable {
        public var standardOutput = ""
        public var standardError = ""
        public var exitCode: Int32 = 0
    }

    /// The whole command without its side effects, for tests: `load` reads one file
    /// (``SpecLoader/load(path:)`` unless a test gives another).
    public static func check(
        files: [String], output: OutputFormat, colour: Bool = false,
        load: (String) -> Result<Spec, SpecError> = SpecLoader.load(path:)
    ) -> Outcome {
        var outcome = Outcome()
        var all: [Diagnostic] = []
        let renderer = DiagnosticRenderer(colour: colour)
        for file in files {
            switch load(file) {
            case .success(let spec):
                if output == .text { outcome.standardOutput += "\(file == "-" ? SpecLoader.stdinName : file): OK (\(summary(spec)))\n" }
            case .failure(let error):
                outcome.exitCode = 1
                all += error.diagnostics
                if output == .text { outcome.standardError += renderer.render(error) }
            }
        }
        if output == .json { outcome.standardOutput = JSON.array(all) }
        return outcome
    }

    static func summary(_ spec: Spec) -> String {
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        var parts = ["project \(spec.project)", count(spec.containers.count, "container")]
        if !spec.networks.isEmpty { parts.append(count(spec.networks.count, "network")) }
        return parts.joined(separator: ", ")
    }
}
