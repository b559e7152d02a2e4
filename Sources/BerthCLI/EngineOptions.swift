import ArgumentParser
import Berth
import BerthKernel
import FoundationEssentials
import Glibc

/// Options every command that touches berth's state shares.
struct EngineOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"),
            help: ArgumentHelp("Where berth keeps its records.", valueName: "dir"))
    // getenv, not ProcessInfo's environment: the parser makes this default several times per
    // run, and ProcessInfo copies the whole environment into a dictionary each time.
    var stateDirectory: String = getenv("BERTH_STATE_DIR").map { String(cString: $0) } ?? StateStore.defaultRoot

    /// The state directory as an absolute path: containers bind-mount files from it (hosts,
    /// resolv.conf), and a relative source failed at the first mount of the first container.
    var stateRoot: String {
        if stateDirectory.hasPrefix("/") { return stateDirectory }
        let relative = stateDirectory.hasPrefix("./") ? String(stateDirectory.dropFirst(2)) : stateDirectory
        return FileManager.default.currentDirectoryPath + "/" + relative
    }

    func engine() throws -> Engine {
        do {
            return try Engine.host(stateDirectory: stateRoot, executable: InitExecutable.path)
        } catch {
            throw CLIError("cannot read the cgroup hierarchy: \(error)")
        }
    }
}

/// A spec file option: `-f FILE`, `-f -` for standard input.
struct SpecFileOption: ParsableArguments {
    @Option(name: [.customShort("f"), .customLong("file")],
            help: ArgumentHelp("The spec file (`-` reads standard input).", valueName: "file"))
    var file: String

    /// Loads and validates the spec; on any problem prints every diagnostic and exits 1.
    func load() throws -> Spec { try SpecInput.load(path: file) }
}

/// An error for the user, printed as one line after `berth: error:`.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Lines on standard output and error.
enum Console {
    static func out(_ s: String) { StandardStreams.write(s.hasSuffix("\n") ? s : s + "\n") }
    static func err(_ s: String) { StandardStreams.writeError(s.hasSuffix("\n") ? s : s + "\n") }
    static var colorOnStdout: Bool {
        isatty(STDOUT_FILENO) == 1 && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
    }
}

/// A duration option (`500ms`, `10s`, `1m30s`), in seconds.
func seconds(_ text: String, option: String) throws -> Double {
    guard let span = try? TimeSpan(parsing: text) else {
        throw ValidationError("\(option): \"\(text)\" is not a duration (use e.g. 10s)")
    }
    return Double(span.milliseconds) / 1000
}
