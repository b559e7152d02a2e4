import ArgumentParser
import Berth
import BerthKernel
import Foundation
import SystemPackage

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a container's output (its command's stdout and stderr).")

    @Argument(help: "The container: NAME, or PROJECT/NAME when several projects have one of that name.")
    var name: String
    @Option(name: .shortAndLong, help: "The container's project.")
    var project: String?
    @Flag(name: .shortAndLong, help: "Keep printing what the container writes, until it stops or you press Ctrl-C.")
    var follow = false
    @OptionGroup var options: EngineOptions

    func run() throws {
        let engine = try options.engine()
        let (project, name) = try engine.locate(name, project: project)
        let path = engine.logPath(project: project, name: name)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("\(project)/\(name) has no log yet")
        }
        let reader = LogReader(path: path)
        let out = FileDescriptor.standardOutput
        if follow {
            try reader.follow(to: out) {
                let records = (try? engine.store.records(project)) ?? ProjectRecords()
                let seen = try? engine.observer.observe(project: project, records: records).containers[name]
                return seen?.isRunning != true
            }
        } else {
            _ = try reader.copy(to: out)
        }
    }
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a running container, as its user, with its environment.",
        discussion: "The command joins every namespace and the cgroup of the container. berth exits with its status.")

    @Argument(help: "The container: NAME or PROJECT/NAME.")
    var name: String
    @Option(name: .shortAndLong, help: "The container's project.")
    var project: String?
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after `--`.")
    var command: [String] = []
    @OptionGroup var options: EngineOptions

    func run() throws {
        guard !command.isEmpty else { throw ValidationError("give the command after --, e.g. berth exec web -- ls /") }
        let engine = try options.engine()
        let (project, name) = try engine.locate(name, project: project)
        let status = try engine.exec(project: project, name: name, argv: command)
        if status.shellCode != 0 { throw ExitCode(status.shellCode) }
    }
}
