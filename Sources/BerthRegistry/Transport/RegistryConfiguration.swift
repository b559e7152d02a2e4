import FoundationEssentials

/// How berth reaches registries: which may be spoken to in plain HTTP, where private CAs
/// live, where credentials come from, how hard to retry.
public struct RegistryConfiguration: Sendable {
    /// Docker's `certs.d` layout: `<dir>/HOST:PORT/ca.crt` (and `*.crt`) are trusted for that
    /// registry in addition to the system's CA store.
    public var certsDirectory: String
    /// `HOST[:PORT]` of registries spoken to over plain HTTP. Only these; never as a fallback.
    public var insecureRegistries: Set<String>
    public var credentials: CredentialStore
    /// Attempts per request on 5xx, resets and timeouts (the first included).
    public var attempts: Int
    /// The wait before the second attempt; doubled for each one after.
    public var initialBackoff: Duration
    /// Layers downloaded at once.
    public var parallelDownloads: Int

    public static let defaultCertsDirectory = "/etc/berth/certs.d"
    public static let defaultConfigFile = "/etc/berth/registries.json"

    public init(certsDirectory: String = RegistryConfiguration.defaultCertsDirectory,
                insecureRegistries: Set<String> = [],
                credentials: CredentialStore = .standard(),
                attempts: Int = 4, initialBackoff: Duration = .milliseconds(250), parallelDownloads: Int = 3) {
        self.certsDirectory = certsDirectory
        self.insecureRegistries = insecureRegistries
        self.credentials = credentials
        self.attempts = max(1, attempts)
        self.initialBackoff = initialBackoff
        self.parallelDownloads = max(1, parallelDownloads)
    }

    /// The configuration file, `{"insecureRegistries": ["HOST:PORT", …], "certsDirectory": "DIR"}`:
    /// `$BERTH_REGISTRIES_CONF`, else /etc/berth/registries.json; missing is the defaults.
    /// `$BERTH_CERTS_DIR` names another certs.d root (tests point it at their own).
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws(RegistryError) -> RegistryConfiguration {
        var config = RegistryConfiguration(credentials: .standard(environment: environment))
        let file = environment["BERTH_REGISTRIES_CONF"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultConfigFile
        if let data = FileManager.default.contents(atPath: file) {
            struct File: Decodable {
                var insecureRegistries: [String]?
                var certsDirectory: String?
            }
            guard let parsed = try? JSONDecoder().decode(File.self, from: data) else {
                throw .badCredentialsFile(path: file, detail: "is not JSON of the form {\"insecureRegistries\": [\"HOST:PORT\"], \"certsDirectory\": \"DIR\"}")
            }
            config.insecureRegistries.formUnion(parsed.insecureRegistries ?? [])
            if let d = parsed.certsDirectory { config.certsDirectory = d }
        }
        if let d = environment["BERTH_CERTS_DIR"], !d.isEmpty { config.certsDirectory = d }
        return config
    }

    func isInsecure(_ registry: String) -> Bool { insecureRegistries.contains(registry) }

    /// The CA files of `registry`'s certs.d directory, sorted.
    func caFiles(for registry: String) -> [String] {
        let dir = certsDirectory + "/" + registry
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter { $0.hasSuffix(".crt") && !$0.hasSuffix(".cert") }.sorted().map { dir + "/" + $0 }
    }
}
