import ArgumentParser
import Berth
import BerthKernel
import FoundationEssentials
import Glibc

/// `berth image import|ls|inspect|rm|prune`: the image store under the state directory.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Pull, import, list, inspect and remove the images in berth's store.",
        subcommands: [ImagePullCommand.self, Import.self, List.self, Inspect.self, Remove.self, Prune.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import an image: oci:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG].",
            discussion: "Every blob is verified against its digest and every layer against its diff_id; hostile layers are refused.")
        @Argument(help: "The source, as a spec's `image:` writes it (paths relative to the current directory).")
        var source: String
        @Option(help: ArgumentHelp("A name for the image besides those the source gives it.", valueName: "NAME:TAG"))
        var name: String?
        @OptionGroup var options: EngineOptions

        func run() throws {
            let cwd = FileManager.default.currentDirectoryPath
            let parsed: ImageSource
            do {
                parsed = try ImageSource(parsing: source) { $0.hasPrefix("/") ? $0 : cwd + "/" + $0 }
            } catch {
                throw CLIError("\(source): \(error.message)\(error.hint.map { " (\($0))" } ?? "")")
            }
            let store = ImageStore(state: StateStore(root: options.stateRoot))
            let tty = isatty(2) != 0
            let image = try store.importImage(parsed, name: name) { if tty { Console.err($0) } }
            Console.out("imported \(image.digest)\(image.names.isEmpty ? "" : " as " + image.names.joined(separator: ", "))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the images: name, digest, size, layers, created, used by.")
        @Option(help: "text or json.")
        var output: OutputFormat = .text
        @OptionGroup var options: EngineOptions

        struct Row: Encodable {
            var names: [String]
            var digest: String
            var size: Int64
            var layers: Int
            var created: String?
            var imported: String
            var source: String?
            var usedBy: [String]
        }

        /// 1088832 -> "1.0Mi": a table shows sizes to two or three digits.
        static func size(_ bytes: Int64) -> String {
            let units = ["Ti", "Gi", "Mi", "Ki"]
            for (i, unit) in units.enumerated() {
                let factor = Double(Int64(1) << Int64(10 * (4 - i)))
                if Double(bytes) >= factor { return Printf.string("%.1f", Double(bytes) / factor) + unit }
            }
            return "\(bytes)B"
        }

        func run() throws {
            let engine = try options.engine()
            let users = engine.imageUsers()
            let rows = try engine.images.images().map {
                Row(names: $0.names, digest: $0.digest, size: $0.size, layers: $0.layers.count, created: $0.created,
                    imported: $0.imported.formatted(.iso8601), source: $0.source, usedBy: users[$0.digest] ?? [])
            }
            switch output {
            case .json:
                struct Document: Encodable { var formatVersion = 1; var images: [Row] }
                Console.out(try JSON.document(Document(images: rows)))
            case .text:
                guard !rows.isEmpty else { return Console.out("No images.") }
                let header = ["NAME", "DIGEST", "SIZE", "LAYERS", "CREATED", "USED BY"]
                let body = rows.map { r in
                    [r.names.first ?? r.source ?? "-", String(r.digest.prefix(19)), Self.size(r.size), String(r.layers),
                     r.created.map { String($0.prefix(19)) } ?? "-", r.usedBy.isEmpty ? "-" : r.usedBy.joined(separator: ",")]
                }
                Console.out(Table.render(header: header, rows: body))
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Print an image's config (JSON, as in the image).")
        @Argument(help: "A name, a digest, or 12 or more hex digits of one.")
        var reference: String
        @OptionGroup var options: EngineOptions

        func run() throws {
            let store = ImageStore(state: StateStore(root: options.stateRoot))
            guard let image = try store.image(reference) else { throw ImageStoreError.notFound(reference: reference) }
            let data = try store.configData(of: image)
            // Pretty, keys sorted: the config is data to read; its digest is the blob's, not this text's.
            Console.out(try InitJSON.Value.parse(Array(data)).pretty)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an image (refused while a container uses it); `prune` frees its files.")
        @Argument(help: "A name, a digest, or 12 or more hex digits of one.")
        var reference: String
        @OptionGroup var options: EngineOptions

        func run() throws {
            let engine = try options.engine()
            let image = try engine.images.remove(reference, users: engine.imageUsers())
            Console.out("removed \(image.digest)\(image.names.isEmpty ? "" : " (" + image.names.joined(separator: ", ") + ")")")
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove the blobs and layers no image references, and unnamed images no container uses.")
        @Option(help: "text or json.")
        var output: OutputFormat = .text
        @OptionGroup var options: EngineOptions

        func run() throws {
            let engine = try options.engine()
            let pruned = try engine.images.prune(keeping: Set(engine.imageUsers().keys))
            switch output {
            case .json:
                struct Document: Encodable { var blobs: [String]; var layers: [String]; var bytes: Int64 }
                Console.out(try JSON.document(Document(blobs: pruned.blobs, layers: pruned.layers, bytes: pruned.bytes)))
            case .text:
                for blob in pruned.blobs { Console.out("deleted blob \(blob)") }
                for layer in pruned.layers { Console.out("deleted layer \(layer)") }
                Console.out("Freed \(ByteSize.format(UInt64(pruned.bytes))) (\(pruned.blobs.count) blobs, \(pruned.layers.count) layers).")
            }
        }
    }
}
