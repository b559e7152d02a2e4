/// An image in a registry, written as Docker users write it: `nginx` is
/// `docker.io/library/nginx:latest`, `user/app:1`, `host:5000/app@sha256:…`; with a tag and a
/// digest together the digest decides what is pulled (the tag is kept for naming).
///
/// This is the registry's view of a reference (where to connect, which repository, what to
/// ask for); the spec's `image:` field is parsed by BerthSpec and maps onto it.
public struct RegistryReference: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `docker.io`, `quay.io`, `127.0.0.1:5000`, `localhost`: host with optional port.
    public var registry: String
    /// `library/nginx`, `team/app`: lower-case path components.
    public var repository: String
    /// Nil only when a digest is given without a tag.
    public var tag: String?
    /// `sha256:<64 hex>` when pinned.
    public var digest: Digest?

    public static let defaultRegistry = "docker.io"
    public static let defaultTag = "latest"

    public init(registry: String, repository: String, tag: String?, digest: Digest?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses and normalises `text` (the Docker reference grammar of distribution/reference).
    public init(parsing text: String) throws(RegistryError) {
        func bad(_ reason: String) -> RegistryError { .invalidReference(text, reason: reason) }
        guard !text.isEmpty else { throw bad("it is empty") }
        guard text.utf8.count <= 512, text.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw bad("it holds spaces or non-ASCII characters")
        }
        var rest = Substring(text)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            let d = String(rest[rest.index(after: at)...])
            guard let parsed = Digest(d) else { throw bad("\"\(d)\" is not a digest (sha256:<64 hex digits>)") }
            digest = parsed
            rest = rest[..<at]
        }
        var tag: String?
        // A colon after the last slash starts the tag; one before it belongs to host:port.
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let t = String(rest[rest.index(after: colon)...])
            guard Self.isTag(t) else { throw bad("\"\(t)\" is not a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})") }
            tag = t
            rest = rest[..<colon]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var registry = Self.defaultRegistry
        if components.count > 1, let first = components.first,
           first.contains(".") || first.contains(":") || first == "localhost" || first.first!.isUppercase {
            guard Self.isRegistryHost(first) else { throw bad("\"\(first)\" is not a registry host[:port]") }
            registry = first
            components.removeFirst()
        }
        guard !components.isEmpty, components.allSatisfy(Self.isPathComponent) else {
            throw bad("the repository must be lower-case path components ([a-z0-9] joined by . _ __ or -)")
        }
        if registry == "index.docker.io" { registry = Self.defaultRegistry }
        if registry == Self.defaultRegistry, components.count == 1 { components.insert("library", at: 0) }
        let repository = components.joined(separator: "/")
        guard repository.utf8.count <= 255 else { throw bad("the repository name is longer than 255 characters") }
        self.init(registry: registry, repository: repository,
                  tag: tag ?? (digest == nil ? Self.defaultTag : nil), digest: digest)
    }

    /// What to ask the manifest endpoint for: the digest when pinned, the tag otherwise.
    public var manifestReference: String { digest?.description ?? tag ?? Self.defaultTag }

    /// `registry/repository[:tag][@digest]`, fully spelt.
    public var description: String {
        var s = "\(registry)/\(repository)"
        if let tag { s += ":\(tag)" }
        if let digest { s += "@\(digest)" }
        return s
    }

    /// The same image without its digest: the name a tag lookup uses.
    public var tagged: RegistryReference { RegistryReference(registry: registry, repository: repository, tag: tag ?? Self.defaultTag, digest: nil) }

    /// The host the HTTP API answers on (Docker Hub's API is not on docker.io itself).
    public var apiHost: String { registry == Self.defaultRegistry ? "registry-1.docker.io" : registry }

    static func isTag(_ t: String) -> Bool {
        guard let first = t.utf8.first, t.utf8.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        return word(first) && t.utf8.allSatisfy { word($0) || $0 == 0x2E || $0 == 0x2D }
    }

    static func isPathComponent(_ c: String) -> Bool {
        // [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
        let bytes = Array(c.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
        var i = 0
        while i < bytes.count {
            if alnum(bytes[i]) { i += 1; continue }
            var j = i
            while j < bytes.count, !alnum(bytes[j]) { j += 1 }
            let sep = bytes[i..<j]
            let ok = sep.elementsEqual([0x2E]) || sep.elementsEqual([0x5F]) || sep.elementsEqual([0x5F, 0x5F])
                || sep.allSatisfy { $0 == 0x2D }
            guard ok else { return false }
            i = j
        }
        return true
    }

    static func isRegistryHost(_ h: String) -> Bool {
        var host = Substring(h)
        if let colon = host.lastIndex(of: ":"), !host.hasPrefix("[") || host[..<colon].hasSuffix("]") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isNumber), let p = Int(port), p > 0, p < 65536 else { return false }
            host = host[..<colon]
        }
        if host.hasPrefix("[") { return host.hasSuffix("]") && host.count > 2 }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            guard let f = label.first, let l = label.last, f.isLetter || f.isNumber, l.isLetter || l.isNumber else { return false }
            return label.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
        }
    }
}
