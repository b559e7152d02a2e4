import BerthKernel
import BerthSpec
import FoundationEssentials
import Glibc

/// A user name and password for one registry. Never printed: ``description`` hides both.
public struct BasicCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
    public var description: String { "BasicCredentials(<redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
    /// The value of an `Authorization: Basic …` header.
    var headerValue: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }
}

/// Where berth looks for registry credentials: the files people already have, in the order
/// Podman and Docker read them. The first file with an entry for the registry wins.
public struct CredentialStore: Sendable {
    /// The files, most important first.
    public var files: [String]

    public init(files: [String]) { self.files = files }

    /// `$REGISTRY_AUTH_FILE`, `/run/containers/<uid>/auth.json`, `$DOCKER_CONFIG/config.json`
    /// or `~/.docker/config.json`.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> CredentialStore {
        var files: [String] = []
        if let f = environment["REGISTRY_AUTH_FILE"], !f.isEmpty { files.append(f) }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty, getuid() != 0 {
            files.append(runtime + "/containers/auth.json")
        } else {
            files.append("/run/containers/\(getuid())/auth.json")
        }
        if let d = environment["DOCKER_CONFIG"], !d.isEmpty {
            files.append(d + "/config.json")
        } else if let home = environment["HOME"], !home.isEmpty {
            files.append(home + "/.docker/config.json")
        }
        return CredentialStore(files: files)
    }

    /// What a lookup found: the credentials and the file they came from.
    public struct Found: Sendable, Equatable {
        public var credentials: BasicCredentials
        public var file: String
    }

    /// The credentials for `registry` (host[:port]) and `repository`: the most specific key
    /// of the first file that has one (`host/team/app` before `host`). A file that does not
    /// exist is skipped; one that exists but cannot be read is an error.
    public func lookup(registry: String, repository: String) throws(RegistryError) -> Found? {
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                if FileManager.default.fileExists(atPath: file) {
                    throw .badCredentialsFile(path: file, detail: "cannot be read")
                }
                continue
            }
            guard let document = try? InitJSON.Value.parse(Array(data)) else {
                throw .badCredentialsFile(path: file, detail: "is not valid JSON")
            }
            guard case .object = document else {
                throw .badCredentialsFile(path: file, detail: "is not a JSON object")
            }
            var auths: [(String, InitJSON.Value)] = []
            if case .object(let members)? = document["auths"] { auths = members }
            var best: (length: Int, entry: InitJSON.Value)?
            for (key, entry) in auths {
                guard case .object = entry else { continue }
                let k = Self.normalise(key)
                let candidates = Self.keys(registry: registry, repository: repository)
                guard let match = candidates.first(where: { $0 == k }) else { continue }
                if best == nil || match.count > best!.length { best = (match.count, entry) }
            }
            guard let entry = best?.entry else { continue }
            if let auth = entry["auth"]?.string, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                      let colon = decoded.firstIndex(of: ":") else {
                    throw .badCredentialsFile(path: file, detail: "the \"auth\" entry for \(registry) is not base64 of user:password")
                }
                return Found(credentials: BasicCredentials(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...])), file: file)
            }
            if let user = entry["username"]?.string, let password = entry["password"]?.string {
                return Found(credentials: BasicCredentials(username: user, password: password), file: file)
            }
        }
        return nil
    }

    /// `https://index.docker.io/v1/` -> `docker.io`; `http://host:5000/` -> `host:5000`.
    static func normalise(_ key: String) -> String {
        var k = Substring(key)
        for scheme in ["https://", "http://"] where k.hasPrefix(scheme) { k = k.dropFirst(scheme.count) }
        while k.hasSuffix("/") { k = k.dropLast() }
        var s = String(k)
        if s.hasSuffix("/v1") || s.hasSuffix("/v2") { s = String(s.dropLast(3)) }
        for hub in ["index.docker.io", "registry-1.docker.io"] where s == hub || s.hasPrefix(hub + "/") {
            s = ImageReference.defaultDomain + s.dropFirst(hub.count)
        }
        return s
    }

    /// The keys that name `registry/repository`, most specific first.
    static func keys(registry: String, repository: String) -> [String] {
        var keys: [String] = []
        var parts = repository.split(separator: "/").map(String.init)
        while !parts.isEmpty {
            keys.append(registry + "/" + parts.joined(separator: "/"))
            parts.removeLast()
        }
        keys.append(registry)
        return keys
    }
}
