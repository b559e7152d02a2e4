import BerthKernel
import FoundationEssentials
import Glibc

/// How a container's root is made from its image.
public enum ImageRootKind: String, Codable, Sendable {
    /// overlayfs: the image's layers below, the container's own upper directory on top.
    case overlay
    /// A private copy of the image's tree, made when the kernel refuses an overlay whose
    /// upper directory is where the state directory is (a filesystem overlayfs cannot write on).
    case copy
}

/// What a container from an image runs: the image's config as defaults, the spec's fields
/// over them, with the semantics of Compose and Kubernetes.
public struct ImageLaunch: Sendable, Equatable {
    public var argv: [String]
    public var env: [EnvVar]
    public var workdir: String

    /// `entrypoint` replaces the image's Entrypoint and drops its Cmd; `command` replaces Cmd;
    /// env is the image's, then the spec's (the spec wins); workdir comes from the image when the
    /// spec leaves it at `/` (the image's User is applied earlier, see ``Engine/withImageUsers(_:)``).
    public init(container c: Container, image: OCI.ImageConfig.Defaults?) {
        let entrypoint = c.entrypoint ?? image?.Entrypoint ?? []
        let cmd = !c.command.isEmpty ? c.command : (c.entrypoint != nil ? [] : image?.Cmd ?? [])
        argv = entrypoint + cmd
        var merged: [String: String] = [:]
        var order: [String] = []
        for item in image?.Env ?? [] {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            if merged[name] == nil { order.append(name) }
            merged[name] = parts.count > 1 ? String(parts[1]) : ""
        }
        for e in c.env {
            if merged[e.name] == nil { order.append(e.name) }
            merged[e.name] = e.value
        }
        env = order.sorted().map { EnvVar(name: $0, value: merged[$0]!) }
        workdir = c.workdir == "/" ? (image?.WorkingDir.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/") : c.workdir
    }
}

extension Engine {
    /// The image store of this engine's state directory.
    public var images: ImageStore { ImageStore(state: store) }

    /// The manifest digest a container's `image:` resolves to now, reading the store and the
    /// source's index only: an OCI layout's index names it; an archive, the last import of it
    /// while the file is unchanged; a registry reference, the store's image of that name.
    public func resolveImage(_ source: ImageSource) -> String? {
        switch source {
        case .ociLayout:
            return try? images.peekManifest(source)
        case .ociArchive(let path, _), .dockerArchive(let path, _):
            guard let image = try? images.image(importedFrom: source.description),
                  image.sourceStamp == ImageStore.stamp(path) else { return nil }
            return image.digest
        case .registry(let reference):
            return registryDigests[reference.description] ?? (try? images.image(reference.description))?.digest
        }
    }

    /// Imports the local sources of the spec that are missing from the store or changed since
    /// their import, before apply changes anything else. Registry references are left to pull.
    public func importImages(_ spec: Spec, progress: (String) -> Void = { _ in }) throws(ImageStoreError) {
        var done: Set<String> = []
        for c in spec.containers {
            guard let source = c.image, source.localPath != nil, done.insert(source.description).inserted else { continue }
            if let digest = resolveImage(source), (try? images.image(digest)) != nil { continue }
            progress("importing \(source) for containers.\(c.name)")
            try images.importImage(source, progress: { progress("  \($0)") })
        }
    }

    /// Makes a container's root from its image under the container's state directory: the
    /// overlay's upper and work directories (the overlay itself is mounted by berth init, inside
    /// the container's mount namespace, so nothing stays mounted on the host), or, when a probe
    /// finds overlayfs refused there, a private copy of the image's tree. The choice is made
    /// once per container and kept in `image-root/kind`. `fresh` throws away the writes of an
    /// earlier container of that name (create, replace).
    func prepareImageRoot(_ c: Container, project: String, fresh: Bool) throws -> (root: String, overlay: OverlayRoot?, kind: ImageRootKind, image: ImageStore.Image, config: OCI.ImageConfig) {
        guard let source = c.image else { throw StateError("prepare image root", "containers.\(c.name) has no image") }
        guard let digest = resolveImage(source), let image = try images.image(digest) else {
            throw StateError("containers.\(c.name).image", "\(source) is not in the image store")
        }
        let config = try images.config(of: image)
        let dir = store.containerDirectory(project, c.name) + "/image-root"
        if fresh { try FileTree.remove(dir) }
        let root = dir + "/root", upper = dir + "/upper", work = dir + "/work", kindFile = dir + "/kind"
        try StateStore.makeDirectories(dir)
        for path in [root, upper, work] where mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw KernelError.lastError("mkdir", path)
        }
        let lower = images.lowerDirectories(of: image)
        let overlay = OverlayRoot(lower: lower, upper: upper, work: work)
        if let written = try? String(contentsOfFile: kindFile, encoding: .utf8), let kind = ImageRootKind(rawValue: written) {
            return (root, kind == .overlay ? overlay : nil, kind, image, config)
        }
        var kind = ImageRootKind.overlay
        if overlay.probe(scratch: root) != nil {
            kind = .copy
            _ = try LayeredCopy.copy("/", of: lower, into: root)
        }
        try StateStore.writeAtomically(Data(kind.rawValue.utf8), to: kindFile)
        return (root, kind == .overlay ? overlay : nil, kind, image, config)
    }

    /// The words apply adds to a container's line when its root is a copy, not an overlay.
    func imageRootNote(project: String, name: String) -> String {
        let kindFile = store.containerDirectory(project, name) + "/image-root/kind"
        guard (try? String(contentsOfFile: kindFile, encoding: .utf8)) == ImageRootKind.copy.rawValue else { return "" }
        return "; overlayfs refused where the state directory is: its root is a private copy of the image"
    }
}

extension Engine {
    /// The launch configuration of a container from an image: the spec's mapping, with the
    /// image's defaults merged in and the overlay as its root.
    func imageConfig(_ base: ContainerConfig, _ c: Container, root: String, overlay: OverlayRoot?, config: OCI.ImageConfig) -> ContainerConfig {
        let launch = ImageLaunch(container: c, image: config.config)
        var out = base
        out.rootfs = root
        out.overlay = overlay
        out.argv = launch.argv
        out.env = launch.env.map { "\($0.name)=\($0.value)" }
        out.workdir = launch.workdir
        return out
    }

    /// What `exec` runs with in a container from an image (its env, workdir and user).
    func execConfig(_ base: ContainerConfig, record: ContainerRecord) -> ContainerConfig {
        guard record.spec.image != nil, let digest = record.imageDigest, let image = try? images.image(digest),
              let config = try? images.config(of: image) else { return base }
        return imageConfig(base, record.spec, root: base.rootfs, overlay: nil, config: config)
    }
}

extension Engine {
    /// The unpacked layers of a container's image, top-most first (none when it is not in the store).
    func imageLayers(for c: Container) -> [String] {
        guard let source = c.image, let digest = resolveImage(source), let image = try? images.image(digest) else { return [] }
        return images.lowerDirectories(of: image)
    }

    /// Whether `c` is from an image that is not in the store yet (plan before apply imports it).
    func imageMissing(_ c: Container) -> Bool {
        guard let source = c.image else { return false }
        return resolveImage(source).flatMap { try? images.image($0) } == nil
    }

    /// `spec` with the image's User as the `user:` of each container from an image that does not
    /// write one (a name is then resolved through the image's /etc/passwd like any other).
    func withImageUsers(_ spec: Spec) -> Spec {
        var spec = spec
        for i in spec.containers.indices where spec.containers[i].user == .root {
            let c = spec.containers[i]
            // Validation places a default user at the container itself, a written one at its `user:`.
            if let at = c.user.source, at.path != "containers.\(c.name)" { continue }
            guard let source = c.image, let digest = resolveImage(source), let image = try? images.image(digest),
                  let written = (try? images.config(of: image))?.config?.User, !written.isEmpty,
                  var user = try? User(parsing: written) else { continue }
            user.source = c.user.source  // a name the image's /etc/passwd lacks is reported at the container
            spec.containers[i].user = user
        }
        return spec
    }
}

extension ImageStore {
    /// What tells an archive file changed since its import: its size, mtime and inode.
    static func stamp(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_size)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)-\(st.st_ino)"
    }
}

extension Engine {
    /// Which containers use which image: manifest digest -> `project/name`, from the records
    /// of every project (a container keeps its image until it is destroyed or replaced).
    public func imageUsers() -> [String: [String]] {
        var users: [String: [String]] = [:]
        for project in projects() {
            guard let records = try? store.records(project) else { continue }
            for (name, record) in records.containers {
                if let digest = record.imageDigest { users[digest, default: []].append("\(project)/\(name)") }
            }
        }
        return users.mapValues { $0.sorted() }
    }
}
