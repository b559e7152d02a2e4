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
        // A running reconciler would make everything again within seconds: it is stopped
        // first, and its lock held until the project is gone, so that none starts meanwhile.
        let (guardLock, stopped) = try engine.stopReconciler(project: name)
        defer { guardLock.release() }
        if let stopped {
            Console.out("Stopped the reconciler of project \(name) (pid \(stopped)); it does not start again by itself.")
        }
        let lock = try engine.lock(project: name, command: "destroy", timeout: 60, onWait: Console.err)
        defer { lock.release() }
        let report = try engine.destroy(project: name) { Console.out($0.line) }
        let gone = try engine.removeProjectIfEmpty(name, holding: [lock, guardLock])
        Console.out(report.done.isEmpty ? "Nothing to destroy: project \(name) owns nothing here."
                    : "Destroy complete: \(report.done.count) destroyed.")
        if !gone {
            Console.err("berth: warning: project \(name) keeps its directory: another berth holds one of its locks")
        }
    }
}
