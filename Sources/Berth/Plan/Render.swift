import BerthKernel

/// How spec values are shown in plans and status: short, and as the user wrote them.
enum Render {
    static func list(_ items: [String]) -> String {
        "[" + items.map(quoteIfNeeded).joined(separator: ", ") + "]"
    }

    static func quoteIfNeeded(_ s: String) -> String {
        let plain = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "/._-:=+@".contains($0) }
        if plain { return s }
        var out = "\""
        for ch in s {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(ch)
            }
        }
        return out + "\""
    }

    static func userns(_ u: UserNamespace?) -> String {
        guard let u else { return "(none)" }
        func maps(_ m: [IDMapping]) -> String { m.map { "\($0.container):\($0.host):\($0.size)" }.joined(separator: ",") }
        return "uidMap \(maps(u.uidMap)) gidMap \(maps(u.gidMap))"
    }

    static func mount(_ m: Mount) -> String {
        switch m {
        case .bind(let source, let target, let readOnly):
            "\(source):\(target)\(readOnly ? ":ro" : "")"
        case .tmpfs(let target, let size, let readOnly):
            "tmpfs:\(target)\(size.map { ":size=\($0.text)" } ?? "")\(readOnly ? ":ro" : "")"
        }
    }

    /// `nobody (uid=65534 gid=65534 groups=100)`: as written, with what it resolved to.
    static func user(_ u: User, _ identity: Identity?) -> String {
        identity.map { "\(u) (\($0))" } ?? u.description
    }

    static func capabilities(_ c: CapabilityChanges) -> String {
        "add \(list(c.add)) drop \(list(c.drop))"
    }

    static func ioLimit(_ l: IOLimit) -> String {
        var parts = ["\(l.device)"]
        if let v = l.readBps { parts.append("readBps=\(v.text)") }
        if let v = l.writeBps { parts.append("writeBps=\(v.text)") }
        if let v = l.readIops { parts.append("readIops=\(v)") }
        if let v = l.writeIops { parts.append("writeIops=\(v)") }
        return parts.joined(separator: " ")
    }

    /// Kernel io throttles in the spec's words, canonical order; "" when none.
    static func io(_ throttles: [IOThrottle]) -> String {
        throttles.sorted { ($0.major, $0.minor) < ($1.major, $1.minor) }.map { t in
            var parts = ["\(t.major):\(t.minor)"]
            if let v = t.readBps { parts.append("readBps=\(ByteSize.format(v))") }
            if let v = t.writeBps { parts.append("writeBps=\(ByteSize.format(v))") }
            if let v = t.readIops { parts.append("readIops=\(v)") }
            if let v = t.writeIops { parts.append("writeIops=\(v)") }
            return parts.joined(separator: " ")
        }.joined(separator: "; ")
    }
}
