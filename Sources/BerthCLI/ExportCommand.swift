import ArgumentParser
import BerthConvert
import Foundation

/// `berth export kubernetes -f FILE [-o DIR|-]`.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a berth spec in another system's terms.",
        subcommands: [ExportKubernetes.self])
}

struct ExportKubernetes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubernetes",
        abstract: "Kubernetes manifests for a spec: Deployments or Jobs, headless Services, NetworkPolicies, PersistentVolumeClaims.",
        discussion: """
        Every field without a Kubernetes equivalent is a warning naming it. Images must be \
        registry references: oci:, oci-archive:, docker-archive: and rootfs: are errors that say to push the image.
        """)

    @OptionGroup var spec: SpecFileOption
    @Option(name: .shortAndLong, help: ArgumentHelp("A directory for one file per object, or - for one stream on standard output.", valueName: "DIR|-"))
    var output: String = "-"
    @Option(help: ArgumentHelp("The storage each PersistentVolumeClaim requests.", valueName: "size"))
    var volumeSize: String = "1Gi"

    func run() throws {
        let spec = try spec.load()
        let export: KubernetesExport
        do {
            export = try KubernetesExporter(volumeSize: volumeSize).export(spec)
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
            throw CLIError("cannot write into \(output): \(error.localizedDescription)")
        }
        Console.err("wrote \(export.manifests.count) manifests into \(output)")
    }
}
