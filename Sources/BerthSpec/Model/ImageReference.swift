/// A registry image reference in the Docker grammar (distribution/reference), normalised the way
/// `docker pull` reads it: `nginx` is `docker.io/library/nginx:latest`, `host:5000/a/b` keeps its
/// registry, and a reference with a digest names that digest whatever its tag says.
///
/// ```
/// reference  := name [":" tag] ["@" digest]
/// name       := [domain "/"] component ("/" component)*
/// domain     := host [":" port]       (a first part with "." or ":", "localhost", or upper case)
/// component  := [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)*
/// tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
/// digest     := "sha256:" 64 lower-case hex digits
/// ```
public struct ImageReference: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The registry host, with its port when written: `docker.io`, `localhost:5000`.
    public var domain: String
    /// The repository inside the registry: `library/nginx`, `team/app`.
    public var repository: String
    /// The tag; `latest` when neither a tag nor a digest is written, nil when only a digest is.
    public var tag: String?
    /// `sha256:<64 hex>`; when present it is what the reference names (the tag is informative).
    public var digest: String?

    /// Docker Hub's canonical domain, which `index.docker.io` and an absent domain stand for.
    public static let defaultDomain = "docker.io"
    /// The longest name (domain and repository) the grammar allows.
    public static let maxNameLength = 255

    public init(domain: String, repository: String, tag: String? = nil, digest: String? = nil) {
        self.domain = domain
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses and normalises `text`; throws a case that says what is wrong.
    public init(parsing text: String) throws(ImageReferenceError) {
        guard !text.isEmpty else { throw .empty }
        var rest = Substring(text)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let d = String(rest[rest.index(after: at)...])
            guard ImageReference.isDigest(d) else { throw .badDigest(d) }
            digest = d
            rest = rest[..<at]
        }
        var tag: String?
        // A tag follows the last ':' after the last '/': an earlier ':' is a registry's port.
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let t = String(rest[rest.index(after: colon)...])
            guard ImageReference.isTag(t) else { throw .badTag(t) }
            tag = t
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw .empty }
        guard rest.count <= ImageReference.maxNameLength else { throw .nameTooLong(rest.count) }

        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var domain = ImageReference.defaultDomain
        if parts.count > 1, ImageReference.looksLikeDomain(parts[0]) {
            let d = parts.removeFirst()
            guard ImageReference.isDomain(d) else { throw .badDomain(d) }
            domain = d == "index.docker.io" ? ImageReference.defaultDomain : d
        }
        for part in parts where !ImageReference.isComponent(part) {
            throw .badComponent(part)
        }
        if domain == ImageReference.defaultDomain, parts.count == 1 {
            parts.insert("library", at: 0)
        }
        self.init(domain: domain, repository: parts.joined(separator: "/"),
                  tag: tag ?? (digest == nil ? "latest" : nil), digest: digest)
    }

    /// `domain/repository`, what a registry calls the name.
    public var name: String { "\(domain)/\(repository)" }

    /// The normalised reference: `docker.io/library/nginx:latest`, `host:5000/a/b@sha256:…`.
    public var description: String {
        var out = name
        if let tag { out += ":" + tag }
        if let digest { out += "@" + digest }
        return out
    }

    // MARK: - The grammar's pieces

    static func looksLikeDomain(_ s: String) -> Bool {
        s.contains(".") || s.contains(":") || s == "localhost" || s.lowercased() != s
    }

    static func isDomain(_ s: String) -> Bool {
        var host = Substring(s)
        if let colon = s.lastIndex(of: ":") {
            let port = s[s.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isASCIIDigit), port.count <= 5 else { return false }
            host = s[..<colon]
        }
        if host.hasPrefix("["), host.hasSuffix("]") {
            // An IPv6 literal: hex digits and colons.
            let inner = host.dropFirst().dropLast()
            return !inner.isEmpty && inner.allSatisfy { $0.isHexDigit || $0 == ":" }
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            guard let first = label.first, let last = label.last else { return false }
            return first.isASCIIAlnum && last.isASCIIAlnum && label.allSatisfy { $0.isASCIIAlnum || $0 == "-" }
        }
    }

    static func isComponent(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
        var i = 0
        while i < bytes.count {
            if alnum(bytes[i]) { i += 1; continue }
            // A separator: ".", "_", "__" or one or more "-", between alphanumerics.
            let start = i
            while i < bytes.count, !alnum(bytes[i]) { i += 1 }
            let sep = bytes[start..<i]
            let ok = sep.elementsEqual([0x2e]) || sep.elementsEqual([0x5f]) || sep.elementsEqual([0x5f, 0x5f])
                || sep.allSatisfy { $0 == 0x2d }
            if !ok { return false }
        }
        return true
    }

    static func isTag(_ s: String) -> Bool {
        guard let first = s.first, s.count <= 128, first.isASCIIAlnum || first == "_" else { return false }
        return s.allSatisfy { $0.isASCIIAlnum || $0 == "_" || $0 == "." || $0 == "-" }
    }

    /// `sha256:` and 64 lower-case hex digits, the only algorithm berth verifies.
    public static func isDigest(_ s: String) -> Bool {
        guard s.hasPrefix("sha256:") else { return false }
        let hex = s.utf8.dropFirst(7)
        return hex.count == 64 && hex.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// Why a text is not an image reference.
public enum ImageReferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case badDigest(String)
    case badTag(String)
    case badDomain(String)
    case badComponent(String)
    case nameTooLong(Int)

    public var description: String {
        switch self {
        case .empty: "is empty"
        case .badDigest(let d): "\(quoted(d)) is not a digest (sha256: and 64 lower-case hex digits)"
        case .badTag(let t): "\(quoted(t)) is not a tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"
        case .badDomain(let d): "\(quoted(d)) is not a registry host[:port]"
        case .badComponent(let c): "\(quoted(c)) is not a repository name component (lower-case letters and digits, joined by '.', '_', '__' or '-')"
        case .nameTooLong(let n): "the name is \(n) characters long, more than \(ImageReference.maxNameLength)"
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
    var isASCIIAlnum: Bool { isASCII && (isLetter || isNumber) }
}
