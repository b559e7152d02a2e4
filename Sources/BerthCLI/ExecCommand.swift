import ArgumentParser
import Berth
import BerthKernel
import Glibc

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a running container, as its user, with its environment.",
        discussion: """
            The command joins every namespace and the cgroup of the container, in a session of its own: it never \
            gets your terminal as its controlling terminal. -t gives it a terminal of its own inside the \
            container (yours in raw mode meanwhile, window size changes passed on, restored when it ends); -i \
            passes your input on. berth exits with the command's status.
            """)

    @Flag(name: [.customShort("i"), .long], help: "Keep standard input open and pass it to the command.")
    var interactive = false
    @Flag(name: [.customShort("t"), .long], help: "Run the command on a terminal of its own (a pty inside the container).")
    var tty = false
    @Option(name: .shortAndLong, help: "uid[:gid] to run as, instead of the container's user.")
    var user: String?
    @Option(name: .shortAndLong, help: "KEY=value to add to the container's environment (repeatable).")
    var env: [String] = []
    @Option(name: [.customShort("w"), .long], help: "The working directory inside the container.")
    var workdir: String?
    @Argument(help: "The container: NAME or PROJECT/NAME.")
    var name: String
    @Option(name: .shortAndLong, help: "The container's project.")
    var project: String?
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after `--`.")
    var command: [String] = []
    @OptionGroup var options: EngineOptions

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the command after --, e.g. berth exec web -- ls /") }
        if let user, Self.parseUser(user) == nil {
            throw ValidationError("--user \(user): use uid or uid:gid, in numbers (e.g. 1000:1000)")
        }
        for entry in env where !entry.contains("=") || entry.hasPrefix("=") {
            throw ValidationError("--env \(entry): use KEY=value")
        }
        if let workdir, !workdir.hasPrefix("/") { throw ValidationError("--workdir \(workdir): use an absolute path") }
    }

    func run() throws {
        let engine = try options.engine()
        let (project, name) = try engine.locate(name, project: project)
        var options = ExecOptions(user: user.flatMap(Self.parseUser), env: env, workdir: workdir)
        if tty { options.terminal = TerminalSize.of(1) ?? TerminalSize.of(0) ?? TerminalSize(rows: 24, columns: 80) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(null) }
        // Without -i the command reads nothing of ours (-t: nothing is relayed).
        let input: Int32 = interactive ? 0 : (tty ? -1 : null)
        let status = try engine.exec(project: project, name: name, argv: command, options: options, stdin: input)
        if status.shellCode != 0 { throw ExitCode(status.shellCode) }
    }

    static func parseUser(_ text: String) -> (uid: UInt32, gid: UInt32)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let uid = UInt32(parts[0]) else { return nil }
        if parts.count == 1 { return (uid, uid) }
        guard let gid = UInt32(parts[1]) else { return nil }
        return (uid, gid)
    }
}
