/// Where a container's image comes from: the `image:` field of a container.
///
/// The transports are those of containers/image (skopeo, podman), so that a user can name in
/// berth what those tools write: `oci:DIR[:TAG|@DIGEST]`, `oci-archive:FILE[:TAG]`,
/// `docker-archive:FILE[:NAME:TAG]`; anything else is a registry reference (``ImageReference``).
public enum ImageSource: Sendable, Hashable, Codable, CustomStringConvertible {
    /// An OCI image layout directory; `selector` picks one manifest of its index.
    case ociLayout(path: String, selector: LayoutSelector?)
    /// A tar archive of an OCI image layout.
    case ociArchive(path: String, selector: LayoutSelector?)
    /// A `docker save` tarball; `name` (`NAME:TAG`) picks one image when it holds several.
    case dockerArchive(path: String, name: String?)
    /// An image in a registry, to be pulled (the registry client's job) or found in the store.
    case registry(ImageReference)

    /// One manifest of an OCI layout's index: by its `org.opencontainers.image.ref.name` or by digest.
    public enum LayoutSelector: Sendable, Hashable, Codable, CustomStringConvertible {
        case tag(String)
        case digest(String)
        public var description: String {
            switch self {
            case .tag(let t): ":" + t
            case .digest(let d): "@" + d
            }
        }
    }

    /// The host file or directory a local source reads, nil for a registry reference.
    public var localPath: String? {
        switch self {
        case .ociLayout(let p, _), .ociArchive(let p, _), .dockerArchive(let p, _): p
        case .registry: nil
        }
    }

    /// The source as `image:` is written, with its path as resolved.
    public var description: String {
        switch self {
        case .ociLayout(let p, let s): "oci:\(p)\(s?.description ?? "")"
        case .ociArchive(let p, let s): "oci-archive:\(p)\(s?.description ?? "")"
        case .dockerArchive(let p, let n): "docker-archive:\(p)\(n.map { ":" + $0 } ?? "")"
        case .registry(let r): r.description
        }
    }

    /// Parses `image:` text; `resolve` makes a written path absolute (against the spec file's
    /// directory). A path holds no ':' (as in containers/image, the first ':' ends it).
    public init(parsing text: String, resolve: (String) -> String = { $0 }) throws(ValueError) {
        func split(_ rest: Substring, transport: String) throws(ValueError) -> (path: String, selector: LayoutSelector?) {
            var path = rest
            var selector: LayoutSelector?
            if let at = rest.lastIndex(of: "@"), rest[rest.index(after: at)...].hasPrefix("sha256:") {
                let digest = String(rest[rest.index(after: at)...])
                guard ImageReference.isDigest(digest) else {
                    throw ValueError("\(quoted(digest)) is not a digest", hint: "write sha256: and 64 lower-case hex digits")
                }
                selector = .digest(digest)
                path = rest[..<at]
            } else if let colon = rest.firstIndex(of: ":") {
                let tag = String(rest[rest.index(after: colon)...])
                guard !tag.isEmpty, !tag.contains("/") else {
                    throw ValueError("\(quoted(tag)) is not a tag of an OCI layout", hint: "write \(transport):DIR:TAG")
                }
                selector = .tag(tag)
                path = rest[..<colon]
            }
            guard !path.isEmpty else {
                throw ValueError("\(quoted(text)) names no path", hint: "write e.g. \(transport):./images/web:1.0")
            }
            return (resolve(String(path)), selector)
        }
        if let rest = text.dropPrefix("oci:") {
            let (p, s) = try split(rest, transport: "oci")
            self = .ociLayout(path: p, selector: s)
        } else if let rest = text.dropPrefix("oci-archive:") {
            let (p, s) = try split(rest, transport: "oci-archive")
            self = .ociArchive(path: p, selector: s)
        } else if let rest = text.dropPrefix("docker-archive:") {
            var path = rest
            var name: String?
            if let colon = rest.firstIndex(of: ":") {
                let n = String(rest[rest.index(after: colon)...])
                do {
                    _ = try ImageReference(parsing: n)
                } catch {
                    throw ValueError("\(quoted(n)) is not a NAME:TAG: \(error)", hint: "write docker-archive:FILE:NAME:TAG, e.g. docker-archive:./pg.tar:postgres:16")
                }
                name = n
                path = rest[..<colon]
            }
            guard !path.isEmpty else {
                throw ValueError("\(quoted(text)) names no file", hint: "write e.g. docker-archive:./images/postgres.tar")
            }
            self = .dockerArchive(path: resolve(String(path)), name: name)
        } else {
            let written = text.dropPrefix("docker://").map(String.init) ?? text
            do {
                self = .registry(try ImageReference(parsing: written))
            } catch {
                throw ValueError("\(quoted(text)) is not an image reference: \(error)",
                                 hint: "write e.g. postgres:16, oci:./images/web:1.0 or docker-archive:./images/app.tar")
            }
        }
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
