import ArgumentParser
import Berth

struct DestroyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Remove everything a project owns: its containers, cgroups and records.")

    @Option(name: [.customShort("f"), .customLong("file")], help: "The spec whose project to destroy.")
    var file: String?
    @Option(name: .shortAndLong, help: "The project to destroy.")
    var project: String?
    @OptionGroup var options: EngineOptions

    func run() throws {
        let name: String
        switch (file, project) {
        case (let f?, nil): name = try SpecInput.load(path: f).project
        case (nil, let p?): name = p
        default: throw ValidationError("give either -f FILE or -p PROJECT")
        }
        let engine = try options.engine()
        let lock = try ProjectLock.acquire(store: engine.store, project: name, command: "destroy",
                                           timeout: 60, onWait: Console.err)
        defer { lock.release() }
        let report = try engine.destroy(project: name) { Console.out($0.line) }
        Console.out(report.done.isEmpty ? "Nothing to destroy: project \(name) owns nothing here."
                    : "Destroy complete: \(report.done.count) destroyed.")
    }
}
