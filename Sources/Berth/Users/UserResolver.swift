import BerthKernel

/// Resolves a container's `user:` to the ids its command runs with, through the
/// container's own /etc/passwd and /etc/group (never the host's), as runc does.
///
/// It reads files through ``RootFiles``, so the same rules apply to a `rootfs:`
/// directory and to an image's layers (top first).
public enum UserResolver {
    /// Why a `user:` could not be resolved; `source` is where the spec wrote it.
    public enum Failure: Error, Sendable, Equatable {
        case noSuchUser(String, root: String)
        case noSuchGroup(String, root: String)
        /// /etc/passwd or /etc/group exists but could not be read (not a file, too large, unreadable).
        case unreadable(String, detail: String)
        /// The resolved id has no host id in the container's user namespace.
        case unmapped(kind: String, id: UInt32)
    }

    /// The identity `user` gives in `root` (a description of the root for messages).
    public static func resolve(_ user: User, in files: any RootFiles, root: String) throws(Failure) -> Identity {
        let passwd = try read("/etc/passwd", files)
        var uid: UInt32
        var gid: UInt32? = nil
        var name: String? = nil
        switch user.user {
        case .name(let n):
            guard let line = passwd.first(where: { $0.name == n }) else { throw .noSuchUser(n, root: root) }
            (uid, gid, name) = (line.uid, line.gid, n)
        case .id(let n):
            uid = n
            if let line = passwd.first(where: { $0.uid == n }) { (gid, name) = (line.gid, line.name) }
        }
        let groups = user.group == nil && name == nil ? [] : try read("/etc/group", files)
        switch user.group {
        case .name(let g)?:
            guard let line = groups.first(where: { $0.name == g }) else { throw .noSuchGroup(g, root: root) }
            gid = line.gid
        case .id(let g)?:
            gid = g
        case nil:
            break
        }
        // berth's v1 rule for a uid that /etc/passwd does not know: its gid is the uid.
        let primary = gid ?? uid
        let supplementary = name.map { n in groups.filter { $0.members.contains(n) }.map(\.gid) } ?? []
        return Identity(uid: uid, gid: primary, groups: Array(Set(supplementary)).sorted())
    }

    /// The identity of `c` in its root; checks that the ids are mapped by its user namespace.
    public static func resolve(_ c: Container, in files: any RootFiles) throws(Failure) -> Identity {
        let identity = try resolve(c.user, in: files, root: c.rootfs)
        if let userns = c.userns {
            if !userns.mapsUID(identity.uid) { throw .unmapped(kind: "uid", id: identity.uid) }
            for gid in [identity.gid] + identity.groups where !userns.mapsGID(gid) {
                throw .unmapped(kind: "gid", id: gid)
            }
        }
        return identity
    }

    // MARK: - The files

    struct Line {
        var name: String
        var uid: UInt32
        var gid: UInt32
        var members: [String]
    }

    /// Lines of passwd(5) (`name:x:uid:gid:...`) or group(5) (`name:x:gid:a,b`) as
    /// text lines, read leniently as glibc does: malformed lines and `+`/`-` NIS lines are skipped.
    private static func read(_ path: String, _ files: any RootFiles) throws(Failure) -> [Line] {
        let bytes: [UInt8]?
        do {
            bytes = try files.contents(of: path, limit: 4 << 20)
        } catch {
            throw .unreadable(path, detail: "\(error)")
        }
        guard let bytes else { return [] }
        let isGroup = path.hasSuffix("group")
        var out: [Line] = []
        for raw in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = raw.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
            guard let name = fields.first, !name.isEmpty, !name.hasPrefix("+"), !name.hasPrefix("-"), !name.hasPrefix("#")
            else { continue }
            if isGroup {
                guard fields.count >= 3, let gid = UInt32(fields[2]) else { continue }
                let members = fields.count >= 4 ? fields[3].split(separator: ",").map { $0.trimmingWhitespace() } : []
                out.append(Line(name: name, uid: 0, gid: gid, members: members))
            } else {
                guard fields.count >= 4, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { continue }
                out.append(Line(name: name, uid: uid, gid: gid, members: []))
            }
        }
        return out
    }
}

extension UserResolver.Failure: CustomStringConvertible {
    public var description: String {
        switch self {
        case .noSuchUser(let name, let root): "no user \"\(name)\" in \(root)/etc/passwd"
        case .noSuchGroup(let name, let root): "no group \"\(name)\" in \(root)/etc/group"
        case .unreadable(let path, let detail): "cannot read the container's \(path): \(detail)"
        case .unmapped(let kind, let id): "\(kind) \(id) is not mapped by userns.\(kind)Map"
        }
    }

    var hint: String? {
        switch self {
        case .noSuchUser: "add the user to the root's /etc/passwd, or give a numeric uid"
        case .noSuchGroup: "add the group to the root's /etc/group, or give a numeric gid"
        case .unreadable: nil
        case .unmapped: "the process would run as the overflow id"
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(self.drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}

extension Engine {
    /// The directories that make `c`'s root, top-most first: today its `rootfs:` directory;
    /// a container of an image has its image's layers here (overlayfs lower directories).
    /// Users resolve and volumes seed through this view.
    public func rootLayers(for c: Container) -> [String] {
        c.image != nil ? imageLayers(for: c) : [c.rootfs]
    }

    /// The files of `c`'s root as the container will see them.
    public func rootFiles(for c: Container) -> any RootFiles {
        LayeredRoot(layers: rootLayers(for: c))
    }

    /// `spec` with every container's ``Container/identity`` resolved in its root, or every
    /// failure at once as diagnostics at the spec's `user:` lines. Reads files only.
    public func resolve(_ spec: Spec) throws(SpecError) -> Spec {
        var spec = withImageHealthchecks(withImageUsers(spec))  // images: an image's User is the default user; operations: its Healthcheck the default check
        var diagnostics: [Diagnostic] = []
        // Containers of one root (a hundred of one image) read its /etc/passwd and /etc/group once.
        var roots: [[String]: MemoizedRootFiles] = [:]
        // images: an image not in the store yet has no files to read; apply imports it, then resolves.
        for i in spec.containers.indices where spec.containers[i].identity == nil && !imageMissing(spec.containers[i]) {
            let c = spec.containers[i]
            let layers = rootLayers(for: c)
            let files = roots[layers] ?? MemoizedRootFiles(LayeredRoot(layers: layers))
            roots[layers] = files
            do {
                spec.containers[i].identity = try UserResolver.resolve(c, in: files)
            } catch {
                let at = c.user.source ?? SpecPosition(file: "<spec>", location: .file, path: "containers.\(c.name).user")
                diagnostics.append(at.diagnostic(error.description, hint: error.hint))
            }
        }
        guard diagnostics.isEmpty else { throw SpecError(diagnostics: Diagnostic.sorted(diagnostics)) }
        return spec
    }
}

/// Reads each file of a root once, for one resolution pass.
final class MemoizedRootFiles: RootFiles, @unchecked Sendable {
    private let base: any RootFiles
    private var read: [String: Result<[UInt8]?, any Error>] = [:]

    init(_ base: any RootFiles) {
        self.base = base
    }

    func contents(of path: String, limit: Int) throws -> [UInt8]? {
        if let known = read["\(path)\u{0}\(limit)"] { return try known.get() }
        let result = Result { try base.contents(of: path, limit: limit) }
        read["\(path)\u{0}\(limit)"] = result
        return try result.get()
    }
}
