import ArgumentParser
import Berth
import BerthRegistry
import Dispatch
import FoundationEssentials
import Glibc

/// `berth image pull REF`: fetches an image from its registry into berth's image store.
struct ImagePullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull an image from a registry (OCI distribution protocol).",
        discussion: """
            REF is written as Docker users write it: nginx (docker.io/library/nginx:latest), \
            user/app:1, HOST:PORT/app@sha256:…; with a tag and a digest the digest is pulled. \
            Credentials come from $REGISTRY_AUTH_FILE, /run/containers/0/auth.json or \
            ~/.docker/config.json (`auths`). A registry's private CA goes in \
            /etc/berth/certs.d/HOST:PORT/ca.crt ($BERTH_CERTS_DIR or --certs-dir for another root). \
            Plain HTTP is used only for registries named with --insecure-registry or in \
            /etc/berth/registries.json ({"insecureRegistries": ["HOST:PORT"]}).
            """)

    @Argument(help: "The image reference.")
    var reference: String
    @Flag(name: .shortAndLong, help: "Print only the image's digest.")
    var quiet = false
    @Option(help: ArgumentHelp("The platform to pick from a multi-platform image (default: this machine's).", valueName: "os/arch[/variant]"))
    var platform: String?
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var options: EngineOptions

    func run() throws {
        let ref: RegistryReference
        do {
            ref = try .registry(reference)
        } catch {
            throw CLIError(error.description)
        }
        var pulls = RegistryPulls(engine: try options.engine(), configuration: try registry.configuration())
        if let platform {
            guard let p = Platform(parsing: platform) else {
                throw ValidationError("--platform: \"\(platform)\" is not os/arch[/variant], e.g. linux/arm64")
            }
            pulls.platform = p
        }
        let display = PullProgressDisplay(mode: quiet ? .quiet : (isatty(STDERR_FILENO) == 1 ? .terminal : .lines))
        let result: PullResult
        do {
            result = try pulls.pull(ref) { display.handle($0) }
        } catch {
            display.finish()
            throw error
        }
        display.finish()
        if quiet {
            Console.out(result.manifest.digest.description)
        } else {
            let platform = result.platform.map { " (\($0))" } ?? ""
            Console.out("\(ref): \(result.manifest.digest)\(platform), \(result.layers.count) layers, \(PullProgressDisplay.bytes(result.downloadedBytes)) downloaded")
        }
    }
}

/// The options every command that talks to registries shares.
struct RegistryOptions: ParsableArguments {
    @Option(name: .customLong("insecure-registry"),
            help: ArgumentHelp("A registry spoken to over plain HTTP (repeatable). Never a fallback.", valueName: "host:port"))
    var insecureRegistries: [String] = []
    @Option(name: .customLong("certs-dir"),
            help: ArgumentHelp("Root of the per-registry CA directories (HOST:PORT/ca.crt).", valueName: "dir"))
    var certsDirectory: String?

    func configuration() throws -> RegistryConfiguration {
        var config: RegistryConfiguration
        do {
            config = try RegistryConfiguration.load()
        } catch {
            throw CLIError(error.description)
        }
        config.insecureRegistries.formUnion(insecureRegistries)
        if let certsDirectory { config.certsDirectory = certsDirectory }
        return config
    }
}

/// Runs async work from a synchronous command and waits for it.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
