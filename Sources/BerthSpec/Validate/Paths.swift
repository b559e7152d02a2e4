/// Lexical path handling: validation does not touch the file system (a plan can be
/// made on another machine), so `..` is resolved on the text, never through symlinks.
enum Paths {
    /// `path` made absolute against `base` (itself absolute), with `.`, `..` and `//` removed.
    static func resolve(_ path: String, against base: String) -> String {
        clean(path.hasPrefix("/") ? path : base + "/" + path)
    }

    /// An absolute path without `.`, `..` or empty components; `..` at the root stays at the root.
    static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The directory part of an absolute path.
    static func directory(of path: String) -> String {
        let cleaned = clean(path)
        guard let slash = cleaned.lastIndex(of: "/"), slash != cleaned.startIndex else { return "/" }
        return String(cleaned[..<slash])
    }

    /// `specs/demo.yaml` -> `demo`; `demo.spec.yaml` -> `demo.spec`; `<stdin>` has none.
    static func stem(of fileName: String) -> String {
        let base = fileName.split(separator: "/").last.map(String.init) ?? fileName
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return base }
        return String(base[..<dot])
    }
}
