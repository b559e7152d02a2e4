/// Lexical path handling: validation does not touch the file system (a plan can be
/// made on another machine), so `..` is resolved on the text, never through symlinks.
enum Paths {
    /// `path` made absolute against `base` (itself absolute), with `.`, `..` and `//` removed.
    static func resolve(_ path: String, against base: String) -> String {
        clean(path.hasPrefix("/") ? path : base + "/" + path)
    }

    /// An absolute path without `.`, `..` or empty components; `..` at the root stays at the root.
    static func clean(_ path: String) -> String {
        var path = path
        return path.withUTF8 { bytes in
            // Components as byte ranges: this runs for every path of a spec.
            var parts: [Range<Int>] = []
            var i = 0
            while i < bytes.count {
                while i < bytes.count, bytes[i] == UInt8(ascii: "/") { i += 1 }
                let start = i
                while i < bytes.count, bytes[i] != UInt8(ascii: "/") { i += 1 }
                let length = i - start
                if length == 0 || (length == 1 && bytes[start] == UInt8(ascii: ".")) { continue }
                if length == 2, bytes[start] == UInt8(ascii: "."), bytes[start + 1] == UInt8(ascii: ".") {
                    _ = parts.popLast()
                    continue
                }
                parts.append(start..<i)
            }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + 1)
            for part in parts {
                out.append(UInt8(ascii: "/"))
                out.append(contentsOf: bytes[part])
            }
            if out.isEmpty { out.append(UInt8(ascii: "/")) }
            return String(decoding: out, as: UTF8.self)
        }
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
