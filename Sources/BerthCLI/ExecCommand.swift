import ArgumentParser
import Berth
import BerthKernel

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
