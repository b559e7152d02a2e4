import ArgumentParser
import Berth
import BerthConvert
import BerthKernel
import BerthSpec
import FoundationEssentials

/// `berth export kubernetes -f FILE [-o DIR|-]`.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a berth spec in another system's terms.",
        subcommands: [ExportKubernetes.self])
}

struct ExportKubernetes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubernetes",
        abstract: "Kubernetes manifests for a spec: Deployments or Jobs, Services, NetworkPolicies, PersistentVolumeClaims.",
        discussion: """
        Every field without a Kubernetes equivalent is a warning naming it. Images must be \
        registry references: oci:, oci-archive:, docker-archive: and rootfs: are errors that say to push the image. \
        Images in berth's store (--state-dir) give their ExposedPorts to the Services and their users as numbers.
        """)

    @OptionGroup var spec: SpecFileOption
    @OptionGroup var engineOptions: EngineOptions
    @Option(name: .shortAndLong, help: ArgumentHelp("A directory for one file per object, or - for one stream on standard output.", valueName: "DIR|-"))
    var output: String = "-"
    @Option(help: ArgumentHelp("The storage each PersistentVolumeClaim requests.", valueName: "size"))
    var volumeSize: String = "1Gi"

    func run() throws {
        var spec = try spec.load()
        // The image store, where the images are: users by number, ExposedPorts. Without it
        // (no state directory) the export still works, and warns for what it could not read.
        let engine = try? engineOptions.engine()
        if let engine { spec = Self.resolveUsers(spec, engine: engine) }
        var facts: [String: ImageFacts] = [:]
        if let engine {
            let store = engine.images
            for source in spec.containers.compactMap(\.image) {
                guard let digest = engine.resolveImage(source), let image = try? store.image(digest),
                      let data = try? store.configData(of: image) else { continue }
                facts[source.description] = Self.imageFacts(config: data)
            }
        }
        let known = facts
        let exporter = KubernetesExporter(volumeSize: volumeSize, imageFacts: { known[$0.description] })
        let export: KubernetesExport
        do {
            export = try exporter.export(spec)
        } catch {
            Console.err(error.problems.map { "berth: error: \($0.path): \($0.message)" }.joined(separator: "\n"))
            throw ExitCode.failure
        }
        for warning in export.warnings { Console.err("berth: \(warning)") }
        if output == "-" {
            StandardStreams.write(export.stream)
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            for manifest in export.manifests {
                try manifest.yaml.write(toFile: "\(output)/\(manifest.fileName)", atomically: true, encoding: .utf8)
            }
        } catch {
            throw CLIError("cannot write into \(output): \(FileErrorText.reason(error))")
        }
        Console.err("wrote \(export.manifests.count) manifests into \(output)")
    }
}

extension ExportKubernetes {
    /// Each container's `user:` resolved to numbers in its image (the image's own User when the
    /// spec writes none), one container at a time, so that one that cannot be resolved is a
    /// warning and leaves the others resolved.
    static func resolveUsers(_ spec: Spec, engine: Engine) -> Spec {
        var spec = spec
        for i in spec.containers.indices {
            let one = Spec(project: spec.project, containers: [spec.containers[i]])
            do {
                if let resolved = try engine.resolve(one).containers.first { spec.containers[i] = resolved }
            } catch {
                for d in error.diagnostics { Console.err("berth: warning: \(d.path): \(d.message)") }
            }
        }
        return spec
    }

    /// The part of an image config the export reads.
    private struct ConfigPorts: Decodable {
        struct Defaults: Decodable {
            // The image spec's key; its values are empty objects.
            var ExposedPorts: [String: [String: String]]?
        }
        var config: Defaults?
    }

    static func imageFacts(config data: Data) -> ImageFacts {
        let keys = (try? JSONDecoder().decode(ConfigPorts.self, from: data))?.config?.ExposedPorts?.keys
        return ImageFacts(exposedPorts: (keys.map(Array.init) ?? []).compactMap(ExposedPort.init(configKey:)).sorted())
    }
}
