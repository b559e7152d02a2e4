/// Why a pull failed, one case per thing a user can act on. The message is rendered from the
/// case at the edge (``description``); code that decides what to do switches on the case.
///
/// No case ever carries a credential: registries are named by host, files by path.
public enum RegistryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The reference is not of the Docker grammar.
    case invalidReference(String, reason: String)
    /// The registry has no such repository (or hides it from these credentials).
    case unknownImage(reference: String)
    /// The repository exists but not the tag (or the digest).
    case unknownTag(reference: String)
    /// 401/403 after authenticating; `tried` names the credentials file whose entry was used,
    /// `searched` the files looked in when none had an entry for the registry.
    case unauthorized(registry: String, tried: String?, searched: [String])
    /// The index lists no manifest for the wanted platform; `available` is what it offers.
    case wrongPlatform(reference: String, wanted: String, available: [String])
    /// What arrived does not hash to the digest that named it.
    case digestMismatch(what: String, expected: String, actual: String)
    /// What arrived is not the size the manifest said.
    case sizeMismatch(what: String, expected: Int64, actual: Int64)
    /// The TLS handshake failed: an unknown CA, a wrong name, a plain-HTTP server.
    case tls(host: String, detail: String)
    /// The connection could not be made or broke, after every retry.
    case unreachable(host: String, detail: String)
    /// An HTTP status berth does not expect from a registry.
    case unexpectedStatus(host: String, status: Int, url: String)
    /// A manifest or index berth cannot use.
    case badManifest(reference: String, detail: String)
    /// The token endpoint of a Bearer challenge answered with something unusable.
    case tokenEndpoint(realm: String, detail: String)
    /// A credentials file exists but cannot be read as JSON of the known form.
    case badCredentialsFile(path: String, detail: String)
    /// A local file could not be written or read.
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case .invalidReference(let ref, let reason):
            return "\"\(ref)\" is not an image reference: \(reason)"
        case .unknownImage(let ref):
            return "\(ref): no such image in the registry (or not visible with these credentials)"
        case .unknownTag(let ref):
            return "\(ref): the registry has the image but not this tag or digest"
        case .unauthorized(let registry, let tried, let searched):
            if let tried { return "\(registry): unauthorized with the credentials for \(registry) in \(tried)" }
            let files = searched.isEmpty ? "no credentials file" : searched.joined(separator: ", ")
            return "\(registry): unauthorized: anonymous access refused and no credentials for \(registry) in \(files)"
        case .wrongPlatform(let ref, let wanted, let available):
            let offered = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "\(ref): no manifest for \(wanted); the index offers \(offered)"
        case .digestMismatch(let what, let expected, let actual):
            return "\(what): digest mismatch: expected \(expected), got \(actual); refused"
        case .sizeMismatch(let what, let expected, let actual):
            return "\(what): size mismatch: expected \(expected) bytes, got \(actual); refused"
        case .tls(let host, let detail):
            return "\(host): TLS failed: \(detail) (a private CA goes in certs.d/\(host)/ca.crt; plain HTTP only with --insecure-registry \(host))"
        case .unreachable(let host, let detail):
            return "\(host): cannot reach the registry: \(detail)"
        case .unexpectedStatus(let host, let status, let url):
            return "\(host): HTTP \(status) for \(url)"
        case .badManifest(let ref, let detail):
            return "\(ref): unusable manifest: \(detail)"
        case .tokenEndpoint(let realm, let detail):
            return "token endpoint \(realm): \(detail)"
        case .badCredentialsFile(let path, let detail):
            return "\(path): \(detail)"
        case .io(let path, let detail):
            return "\(path): \(detail)"
        }
    }
}
