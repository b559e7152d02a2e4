import BerthSpec

/// The registry's view of an ``ImageReference`` (BerthSpec owns the grammar): where to
/// connect, and what to ask the manifest endpoint for.
public typealias RegistryReference = ImageReference

extension ImageReference {
    /// Parses `text` as ``ImageReference`` does, the failure as a ``RegistryError``.
    public static func registry(_ text: String) throws(RegistryError) -> ImageReference {
        do {
            return try ImageReference(parsing: text)
        } catch {
            throw .invalidReference(text, reason: error.description)
        }
    }

    /// The registry: `docker.io`, `127.0.0.1:5000`.
    public var registry: String { domain }

    /// The digest when pinned, as berth's typed digest.
    public var pinned: Digest? { digest.flatMap(Digest.init) }

    /// What to ask the manifest endpoint for: the digest when pinned, the tag otherwise.
    public var manifestReference: String { digest ?? tag ?? "latest" }

    /// The host the HTTP API answers on (Docker Hub's API is not on docker.io itself).
    public var apiHost: String { domain == ImageReference.defaultDomain ? "registry-1.docker.io" : domain }
}
