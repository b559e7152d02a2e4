/// What a tar entry of an image layer is, decided from its name alone: the pure half of
/// extraction. The other half is the kernel's: every open below the layer's root is an
/// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS), so no symlink
/// of the layer can lead outside it whatever the names say.
///
/// Names are refused, not cleaned: an absolute name or one with `..` is a hostile or
/// broken layer. `./a//b/` is `a/b`.
enum TarEntryPath: Equatable, Sendable {
    /// The layer's root itself (`.` or `./`).
    case root
    /// `DIR/.wh..wh..opq`: the directory hides what lower layers have in it.
    case opaque(directory: String)
    /// `DIR/.wh.NAME`: NAME of lower layers is deleted.
    case whiteout(parent: String, hidden: String)
    /// `DIR/.wh..wh.*` other than the opaque marker: aufs bookkeeping, nothing to apply
    /// (its directory is made, as for any entry).
    case bookkeeping(parent: String)
    /// Any other entry: `leaf` in the directory `parent` (`""`: the root).
    case entry(parent: String, leaf: String)

    static let opaqueMarker = ".wh..wh..opq"
    static let whiteoutPrefix = ".wh."

    /// nil for a name that is absolute or has a `..` component, or a whiteout of `.` or `..`
    /// (`.wh..`, `.wh...`: it would delete the directory itself, or its parent).
    init?(_ name: String) {
        guard let parts = Self.components(name) else { return nil }
        guard let last = parts.last else {
            self = .root
            return
        }
        let parent = parts.dropLast().joined(separator: "/")
        let leaf = String(last)
        if leaf == Self.opaqueMarker {
            self = .opaque(directory: parent)
        } else if leaf.hasPrefix(Self.whiteoutPrefix) {
            let hidden = String(leaf.dropFirst(Self.whiteoutPrefix.count))
            if hidden == "." || hidden == ".." { return nil }
            self = hidden.isEmpty || hidden.hasPrefix(Self.whiteoutPrefix) ? .bookkeeping(parent: parent) : .whiteout(parent: parent, hidden: hidden)
        } else {
            self = .entry(parent: parent, leaf: leaf)
        }
    }

    /// A name as components inside the layer: `./a//b/` is `[a, b]`; nil for an absolute
    /// name or one with `..`.
    static func components(_ name: String) -> [Substring]? {
        if name.hasPrefix("/") { return nil }
        var parts: [Substring] = []
        for part in name.split(separator: "/") where part != "." {
            if part == ".." { return nil }
            parts.append(part)
        }
        return parts
    }
}
