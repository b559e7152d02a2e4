import ArgumentParser
import Berth

struct DestroyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "destroy",
        abstract: "Remove everything a project owns: its containers, cgroups and records.",
        discussion: "Named volumes are kept (their data outlives the containers) unless --volumes is given.")

    @Option(name: [.customShort("f"), .customLong("file")], help: "The spec whose project to destroy.")
    var file: String?
    @Option(name: .shortAndLong, help: "The project to destroy.")
    var project: String?
    @Flag(help: "Remove the project's named volumes and their data too.")
    var volumes = false
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
        let removed = volumes ? try engine.removeVolumes(project: name) : []
        for volume in removed { Console.out("  - volume \(volume): removed") }
        let gone = try engine.removeProjectIfEmpty(name, holding: [lock, guardLock])
        let count = report.done.count + removed.count
        Console.out(count == 0 ? "Nothing to destroy: project \(name) owns nothing here."
                    : "Destroy complete: \(count) destroyed.")
        if !volumes, case let kept = engine.volumes.names(name), !kept.isEmpty {
            Console.out("Kept volume\(kept.count == 1 ? "" : "s") \(kept.joined(separator: ", ")) (remove with --volumes or berth volume rm).")
        } else if !gone {
            Console.err("berth: warning: project \(name) keeps its directory: another berth holds one of its locks")
        }
    }
}
