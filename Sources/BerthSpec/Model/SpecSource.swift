/// Where the fields of a spec were written, for the errors that only a later stage (plan,
/// apply's preflight) can find: they point at the field like a validation error does.
///
/// One home: ``SpecPosition`` is the place of one field, ``SpecSource`` finds it in the text
/// the spec was loaded from.
/// A place in a spec file: for errors that only a later stage (plan, apply) can find.
public struct SpecPosition: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file as the user named it, or `<stdin>`.
    public var file: String
    public var location: SourceLocation
    /// The key path, e.g. `containers.web.user`.
    public var path: String

    public init(file: String, location: SourceLocation, path: String) {
        self.file = file
        self.location = location
        self.path = path
    }

    public var description: String { "\(file):\(location): \(path)" }

    /// A diagnostic at this place.
    public func diagnostic(_ message: String, hint: String? = nil) -> Diagnostic {
        Diagnostic(file: file, location: location, path: path, message: message, hint: hint)
    }
}


/// The text a spec was loaded from. Kept (not copied: the loader's buffer) so that a later stage
/// can point at a field; the file is parsed again only when there is something to point at,
/// so a spec that applies cleanly pays nothing for it.
///
/// Not part of what a spec says: two specs that differ only in their source are equal.
public struct SpecSource: Sendable, Equatable, Codable {
    /// The file as the user named it, or `<stdin>`; empty for a spec made in code.
    public var file: String
    /// The bytes that were parsed; empty for a spec made in code.
    public var bytes: [UInt8]

    public init(file: String = "", bytes: [UInt8] = []) {
        self.file = file
        self.bytes = bytes
    }

    public static func == (a: SpecSource, b: SpecSource) -> Bool { true }

    /// The places of `paths` (key paths as validation writes them: `containers.web.rootfs`,
    /// `containers.web.mounts[0]`, `networks.front.subnet`), parsing the text once. A path that
    /// was not written (berth filled in a default) gets the place of its nearest written
    /// ancestor, still with its own path; a path of nothing written gets the whole file.
    public func positions(of paths: [String]) -> [String: SpecPosition] {
        let root = bytes.isEmpty ? nil : YAMLParser.parse(bytes, file: file).root
        var out: [String: SpecPosition] = [:]
        for path in paths where out[path] == nil {
            let location = root.flatMap { Self.locate(Substring(path), in: $0, at: nil) } ?? .file
            out[path] = SpecPosition(file: file, location: location, path: path)
        }
        return out
    }

    /// Walks `path` down from `node`; `at` is where the part walked so far was written.
    /// Keys may hold dots (`sysctls.net.ipv4.ip_forward`): the longest key that fits wins.
    static func locate(_ path: Substring, in node: YAMLNode, at: SourceLocation?) -> SourceLocation? {
        if path.isEmpty { return at }
        var rest = path
        if rest.first == "." { rest = rest.dropFirst() }
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]"), let index = Int(rest[rest.index(after: rest.startIndex)..<close]),
                  let items = node.items, items.indices.contains(index) else { return at }
            let item = items[index]
            return locate(rest[rest.index(after: close)...], in: item, at: item.location)
        }
        guard let entries = node.entries else { return at }
        var best: YAMLNode.Entry?
        for entry in entries {
            let key = entry.key.value
            guard rest.hasPrefix(key) else { continue }
            let after = rest.dropFirst(key.count)
            guard after.isEmpty || after.first == "." || after.first == "[" else { continue }
            if key.count > (best?.key.value.count ?? -1) { best = entry }
        }
        guard let best else { return at }
        let after = rest.dropFirst(best.key.value.count)
        // A scalar is pointed at where its value is; a mapping or a list where its key is.
        let here = best.value.scalar != nil ? best.value.location : best.key.location
        return locate(after, in: best.value, at: here)
    }
}
