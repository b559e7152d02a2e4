import ArgumentParser
import Berth
import FoundationEssentials

/// `berth volume ls|rm|prune`: named volumes, which outlive their containers and `destroy`.
struct VolumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "List and remove named volumes (directories berth owns under its state directory).",
        subcommands: [VolumeList.self, VolumeRemove.self, VolumePrune.self])
}

/// One row of `berth volume ls`.
struct VolumeRow: Encodable {
    var project: String
    var name: String
    var path: String
    var sizeBytes: UInt64
    /// Containers of the project (running or stopped) that mount it.
    var usedBy: [String]
}

extension Engine {
    func volumeRows(project: String?) throws -> [VolumeRow] {
        try volumes.all().filter { project == nil || $0.project == project }.map { v in
            VolumeRow(project: v.project, name: v.name, path: volumes.dataDirectory(v.project, v.name),
                      sizeBytes: volumes.usage(v.project, v.name).bytes, usedBy: try volumes.users(v.project, v.name))
        }
    }
}

struct VolumeList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List volumes: project, name, size, path, used by.")

    @OptionGroup var listing: ListingOptions
    var project: String? { listing.project }
    var output: OutputFormat { listing.output }
    @OptionGroup var options: EngineOptions

    func run() throws {
        let rows = try options.engine().volumeRows(project: project)
        switch output {
        case .json:
            struct Document: Encodable { var formatVersion = 1; var volumes: [VolumeRow] }
            Console.out(try JSON.document(Document(volumes: rows)))
        case .text:
            guard !rows.isEmpty else { return Console.out("No volumes.") }
            Console.out(Table.render(
                header: ["PROJECT", "NAME", "SIZE", "USED BY", "PATH"],
                rows: rows.map { [$0.project, $0.name, ByteSize.format($0.sizeBytes), $0.usedBy.isEmpty ? "-" : $0.usedBy.joined(separator: ","), $0.path] }))
        }
    }
}

struct VolumeRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove volumes and their data; refused while a container of the project mounts one.")

    @Argument(help: "NAME (in the only project that has one) or PROJECT/NAME.")
    var names: [String]
    @Option(name: .shortAndLong, help: "The project of the volumes.")
    var project: String?
    @OptionGroup var options: EngineOptions

    func run() throws {
        let engine = try options.engine()
        var failed = false
        for name in names {
            do {
                let (p, n) = try engine.locateVolume(name, project: project)
                let lock = try engine.lock(project: p, command: "volume rm", timeout: 60, onWait: Console.err)
                defer { lock.release() }
                try engine.volumes.remove(p, n)
                try engine.removeProjectIfEmpty(p, holding: [lock])
                Console.out("removed volume \(p)/\(n)")
            } catch {
                Console.err("berth: error: \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }
}

struct VolumePrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Remove every volume that no container (running or stopped) mounts.")

    @OptionGroup var listing: ListingOptions
    var project: String? { listing.project }
    var output: OutputFormat { listing.output }
    @OptionGroup var options: EngineOptions

    func run() throws {
        let engine = try options.engine()
        var removed: [VolumeRow] = []
        for row in try engine.volumeRows(project: project) where row.usedBy.isEmpty {
            let lock = try engine.lock(project: row.project, command: "volume prune", timeout: 60, onWait: Console.err)
            defer { lock.release() }
            // Looked at again under the lock: an apply may have started using it meanwhile.
            guard try engine.volumes.users(row.project, row.name).isEmpty else { continue }
            try engine.volumes.remove(row.project, row.name)
            try engine.removeProjectIfEmpty(row.project, holding: [lock])
            removed.append(row)
        }
        switch output {
        case .json:
            struct Document: Encodable { var formatVersion = 1; var removed: [VolumeRow]; var freedBytes: UInt64 }
            Console.out(try JSON.document(Document(removed: removed, freedBytes: removed.reduce(0) { $0 + $1.sizeBytes })))
        case .text:
            for row in removed { Console.out("removed volume \(row.project)/\(row.name) (\(ByteSize.format(row.sizeBytes)))") }
            Console.out("Freed \(ByteSize.format(removed.reduce(0) { $0 + $1.sizeBytes })) in \(removed.count) volume\(removed.count == 1 ? "" : "s").")
        }
    }
}

extension Engine {
    /// `NAME` in the only project that has a volume of that name, or `PROJECT/NAME`.
    func locateVolume(_ text: String, project: String?) throws -> (String, String) {
        var project = project, name = text
        if let slash = text.firstIndex(of: "/") {
            project = String(text[..<slash])
            name = String(text[text.index(after: slash)...])
        }
        let matches = volumes.all().filter { $0.name == name && (project == nil || $0.project == project) }.map(\.project)
        switch matches.count {
        case 1: return (matches[0], name)
        case 0: throw VolumeError.noSuchVolume(project: project ?? "any", name: name)
        default: throw VolumeError.ambiguous(name: name, projects: matches)
        }
    }
}
