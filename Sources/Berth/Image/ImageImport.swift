import BerthKernel
import CArchive
import Crypto
import FoundationEssentials
import Glibc

/// Importers of the local transports: an OCI layout directory, an OCI archive, and a
/// `docker save` tarball (Docker's `manifest.json` form, or the OCI layout newer Docker writes).
extension ImageStore {
    /// Imports the image `source` names; `name` (NAME:TAG) is recorded besides the names the
    /// source gives it. Returns the image as recorded.
    @discardableResult
    public func importImage(_ source: ImageSource, name: String? = nil, budget: LayerBudget = LayerBudget(),
                            progress: (String) -> Void = { _ in }) throws(ImageStoreError) -> Image {
        let label = source.description
        guard let path = source.localPath else {
            throw .unsupported(image: label, what: "importing from a registry (berth image pull)")
        }
        guard access(path, F_OK) == 0 else { throw .sourceMissing(source: label) }
        var names: [String] = []
        if let name {
            do {
                names.append(try ImageReference(parsing: name).description)
            } catch {
                throw .badSource(source: name, detail: "not a NAME:TAG: \(error)")
            }
        }
        return try withLock { () throws(ImageStoreError) -> Image in
            let found: (manifest: String, names: [String])
            switch source {
            case .ociLayout(let dir, let selector):
                let layout = DirectoryLayout(root: dir, label: label)
                found = try importLayout(layout, selector: selector, label: label)
            case .ociArchive(let file, let selector):
                let staged = try stage(file, label: label, budget: budget)
                guard staged.files["oci-layout"] != nil else { throw .badSource(source: label, detail: "no oci-layout in the archive") }
                found = try importLayout(staged, selector: selector, label: label)
            case .dockerArchive(let file, let wanted):
                let staged = try stage(file, label: label, budget: budget)
                if staged.files["manifest.json"] == nil, staged.files["oci-layout"] != nil {
                    found = try importLayout(staged, selector: wanted.map { .tag($0) }, label: label)
                } else {
                    found = try importDockerManifest(staged, wanted: wanted, label: label)
                }
            case .registry:
                throw .unsupported(image: label, what: "importing from a registry")
            }
            return try commit(manifest: found.manifest, names: names + found.names, source: label,
                              sourceStamp: ImageStore.stamp(path), budget: budget, progress: progress)
        }
    }

    /// The manifest digest `source` resolves to now, read from the source's index without
    /// importing anything (plan's question): nil when the source cannot say without reading
    /// whole layers (an archive in Docker's old form).
    public func peekManifest(_ source: ImageSource) throws(ImageStoreError) -> String? {
        let label = source.description
        guard case .ociLayout(let dir, let selector) = source else { return nil }
        guard access(dir, F_OK) == 0 else { throw .sourceMissing(source: label) }
        let layout = DirectoryLayout(root: dir, label: label)
        return try pickManifest(layout, selector: selector, label: label).manifest.digest
    }

    // MARK: - OCI layouts (directories and staged archives)

    func importLayout(_ layout: LayoutFiles, selector: ImageSource.LayoutSelector?, label: String) throws(ImageStoreError) -> (manifest: String, names: [String]) {
        let picked = try pickManifest(layout, selector: selector, label: label)
        for nested in picked.indexes { try layout.ingest(nested, into: self, image: label) }
        try layout.ingest(picked.manifest, into: self, image: label)
        let manifest = try decodeBlob(picked.manifest.digest, as: OCI.Manifest.self, image: label)
        try layout.ingest(manifest.config, into: self, image: label)
        for layer in manifest.layers {
            try layout.ingest(layer, into: self, image: label)
        }
        return (picked.manifest.digest, picked.names)
    }

    /// The manifest an index entry (by tag, digest, or the only one) and the host's platform pick.
    func pickManifest(_ layout: LayoutFiles, selector: ImageSource.LayoutSelector?, label: String) throws(ImageStoreError)
        -> (manifest: OCI.Descriptor, indexes: [OCI.Descriptor], names: [String]) {
        guard let layoutData = layout.data("oci-layout") else { throw .badSource(source: label, detail: "not an OCI image layout (no oci-layout file)") }
        guard (try? InitJSON.Value.parse(Array(layoutData)))?["imageLayoutVersion"]?.string == "1.0.0" else {
            throw .badSource(source: label, detail: "oci-layout: imageLayoutVersion is not 1.0.0")
        }
        guard let indexData = layout.data("index.json") else { throw .badSource(source: label, detail: "no index.json") }
        let index: OCI.Index
        do { index = try JSONDecoder().decode(OCI.Index.self, from: indexData) } catch {
            throw .badSource(source: label, detail: "index.json: \(error)")
        }
        func tagOf(_ d: OCI.Descriptor) -> String? { d.annotations?[OCI.refNameAnnotation] }
        func fullName(_ d: OCI.Descriptor) -> String? {
            d.annotations?[OCI.imageNameAnnotation].flatMap { try? ImageReference(parsing: $0).description }
        }
        var chosen: OCI.Descriptor
        switch selector {
        case .tag(let tag):
            let normal = (try? ImageReference(parsing: tag))?.description
            guard let d = index.manifests.first(where: { tagOf($0) == tag || (normal != nil && fullName($0) == normal) }) else {
                throw .notInSource(source: label, wanted: tag)
            }
            chosen = d
        case .digest(let digest):
            guard let d = index.manifests.first(where: { $0.digest == digest }) else {
                throw .notInSource(source: label, wanted: digest)
            }
            chosen = d
        case nil:
            guard index.manifests.count == 1 else {
                if index.manifests.isEmpty { throw .badSource(source: label, detail: "index.json lists no image") }
                throw .ambiguous(source: label, choices: index.manifests.map { tagOf($0) ?? fullName($0) ?? $0.digest })
            }
            chosen = index.manifests[0]
        }
        var names: [String] = []
        if let full = fullName(chosen) { names.append(full) }
        var indexes: [OCI.Descriptor] = []
        // An index inside the index: the host's platform picks (at most a few levels).
        while chosen.isIndex {
            guard indexes.count < 4 else { throw .unsupported(image: label, what: "indexes nested this deep") }
            indexes.append(chosen)
            guard let data = layout.blob(chosen.digest) else { throw .missingBlob(image: label, blob: chosen.digest) }
            guard let nested = try? JSONDecoder().decode(OCI.Index.self, from: data) else {
                throw .badSource(source: label, detail: "blob \(chosen.digest) is not an image index")
            }
            let host = OCI.Platform.host
            guard let match = nested.manifests.first(where: { $0.platform?.os == host.os && $0.platform?.architecture == host.architecture }) else {
                throw .noPlatform(source: label, host: "\(host.os)/\(host.architecture)",
                                  offered: nested.manifests.compactMap { $0.platform.map { "\($0.os)/\($0.architecture)" } })
            }
            chosen = match
        }
        if let type = chosen.mediaType, type != OCI.manifestMediaType, type != OCI.dockerManifest {
            throw .unsupported(image: label, what: "the manifest media type \(type)")
        }
        return (chosen, indexes, names)
    }

    // MARK: - Archives

    /// Reads every regular file of an archive into `tmp/`, hashing it on the way; small JSON
    /// files are also kept in memory. Names are only looked up, never used as paths.
    func stage(_ file: String, label: String, budget: LayerBudget) throws(ImageStoreError) -> StagedArchive {
        let reader: TarReader
        do { reader = try TarReader(path: file, budget: budget.bytes) } catch {
            throw .badSource(source: label, detail: "\(error)")
        }
        var staged = StagedArchive(label: label)
        do throws(ArchiveError) {
            var count = 0
            while let entry = try reader.next() {
                count += 1
                if count > budget.entries { throw ArchiveError.tooManyEntries(limit: budget.entries) }
                guard entry.isRegularFile else { continue }
                let name = StagedArchive.clean(entry.name)
                let tmp = "\(tmpDirectory)/staged-\(UUID().uuidString)"
                let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw ArchiveError.system(entry: entry.name, .lastError("create", tmp)) }
                let sink = BlobSink(fd: fd, path: tmp)
                var small = entry.size <= 4 << 20 ? Data() : nil
                do {
                    try reader.forEachBlock { block in
                        try sink.write(block)
                        small?.append(contentsOf: block)
                    }
                } catch let e as ArchiveError {
                    close(fd)
                    throw e
                } catch {
                    close(fd)
                    throw ArchiveError.malformed(entry: entry.name, detail: "\(error)")
                }
                close(fd)
                staged.files[name] = StagedArchive.File(path: tmp, digest: sink.digest, size: sink.count, data: small)
            }
        } catch {
            throw .badSource(source: label, detail: "\(error)")
        }
        return staged
    }

    /// Docker's `manifest.json`: the config and the layer files by name; berth writes the OCI
    /// manifest those make (and its digest is the image's identity from then on).
    func importDockerManifest(_ staged: StagedArchive, wanted: String?, label: String) throws(ImageStoreError) -> (manifest: String, names: [String]) {
        struct Entry: Decodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        guard let data = staged.files["manifest.json"]?.data else { throw .badSource(source: label, detail: "no manifest.json: not a docker-archive") }
        let entries: [Entry]
        do { entries = try JSONDecoder().decode([Entry].self, from: data) } catch {
            throw .badSource(source: label, detail: "manifest.json: \(error)")
        }
        func names(_ e: Entry) -> [String] { (e.RepoTags ?? []).compactMap { try? ImageReference(parsing: $0).description } }
        let entry: Entry
        if let wanted {
            let normal = (try? ImageReference(parsing: wanted))?.description ?? wanted
            guard let e = entries.first(where: { names($0).contains(normal) }) else { throw .notInSource(source: label, wanted: wanted) }
            entry = e
        } else {
            guard entries.count == 1 else {
                if entries.isEmpty { throw .badSource(source: label, detail: "manifest.json lists no image") }
                throw .ambiguous(source: label, choices: entries.map { $0.RepoTags?.first ?? $0.Config })
            }
            entry = entries[0]
        }
        func file(_ name: String) throws(ImageStoreError) -> StagedArchive.File {
            guard let f = staged.files[StagedArchive.clean(name)] else { throw .badSource(source: label, detail: "\(name), named in manifest.json, is not in the archive") }
            return f
        }
        let config = try file(entry.Config)
        try staged.ingest(config, into: self, image: label)
        var layers: [OCI.Descriptor] = []
        for name in entry.Layers {
            let layer = try file(name)
            try staged.ingest(layer, into: self, image: label)
            layers.append(OCI.Descriptor(mediaType: StagedArchive.layerMediaType(layer.path), digest: layer.digest, size: layer.size))
        }
        let manifest = OCI.Manifest(schemaVersion: 2, mediaType: OCI.manifestMediaType,
                                    config: OCI.Descriptor(mediaType: OCI.configMediaType, digest: config.digest, size: config.size),
                                    layers: layers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes: Data
        do { bytes = try encoder.encode(manifest) } catch { throw .badSource(source: label, detail: "\(error)") }
        let digest = ImageStore.digest(of: bytes)
        try ingestBlob(digest: digest, size: Int64(bytes.count), image: label) { sink in
            try bytes.withUnsafeBytes { try sink.write($0) }
        }
        return (digest, names(entry))
    }

    static func digest(of data: Data) -> String {
        "sha256:" + Printf.hex(SHA256.hash(data: data))
    }
}

/// Where a layout's files come from: a directory, or an archive staged into `tmp/`.
protocol LayoutFiles {
    /// A small file at the layout's top (`oci-layout`, `index.json`).
    func data(_ name: String) -> Data?
    /// A blob's bytes (for nested indexes).
    func blob(_ digest: String) -> Data?
    /// Puts a blob into the store, verified.
    func ingest(_ descriptor: OCI.Descriptor, into store: ImageStore, image: String) throws(ImageStoreError)
}

struct DirectoryLayout: LayoutFiles {
    var root: String
    var label: String

    func data(_ name: String) -> Data? { FileManager.default.contents(atPath: "\(root)/\(name)") }

    func blob(_ digest: String) -> Data? {
        OCI.hex(of: digest).flatMap { FileManager.default.contents(atPath: "\(root)/blobs/sha256/\($0)") }
    }

    func ingest(_ d: OCI.Descriptor, into store: ImageStore, image: String) throws(ImageStoreError) {
        guard let hex = OCI.hex(of: d.digest) else { throw .unsupported(image: image, what: "the digest \(d.digest)") }
        try store.ingestBlob(digest: d.digest, size: d.size, image: image, file: "\(root)/blobs/sha256/\(hex)")
    }
}

struct StagedArchive: LayoutFiles {
    struct File {
        var path: String
        var digest: String
        var size: Int64
        var data: Data?
    }
    var label: String
    var files: [String: File] = [:]

    /// `./a//b` -> `a/b`: only for looking names up.
    static func clean(_ name: String) -> String {
        name.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    func data(_ name: String) -> Data? { files[name]?.data }

    func blob(_ digest: String) -> Data? {
        OCI.hex(of: digest).flatMap { files["blobs/sha256/\($0)"] }.flatMap { $0.data ?? FileManager.default.contents(atPath: $0.path) }
    }

    func ingest(_ d: OCI.Descriptor, into store: ImageStore, image: String) throws(ImageStoreError) {
        if store.hasBlob(d.digest) { return }
        guard let hex = OCI.hex(of: d.digest) else { throw .unsupported(image: image, what: "the digest \(d.digest)") }
        guard let file = files["blobs/sha256/\(hex)"] else { throw .missingBlob(image: image, blob: d.digest) }
        guard file.digest == d.digest else { throw .digestMismatch(image: image, blob: d.digest, actual: file.digest) }
        guard file.size == d.size else { throw .sizeMismatch(image: image, blob: d.digest, expected: d.size, actual: file.size) }
        try ingest(file, into: store, image: image)
    }

    /// A staged file whose digest was computed as it was read: moved into place under it.
    func ingest(_ file: File, into store: ImageStore, image: String) throws(ImageStoreError) {
        if store.hasBlob(file.digest) { return }
        guard let final = store.blobPath(file.digest) else { throw .unsupported(image: image, what: file.digest) }
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
        guard link(file.path, final) == 0 || errno == EEXIST else { throw .system(.lastError("link", final)) }
    }

    /// Docker's layer files carry no media type: the first bytes tell the compression.
    static func layerMediaType(_ path: String) -> String {
        var magic = [UInt8](repeating: 0, count: 4)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        let n = fd >= 0 ? read(fd, &magic, 4) : 0
        if n >= 2, magic[0] == 0x1f, magic[1] == 0x8b { return OCI.layerMediaType + "+gzip" }
        if n == 4, magic == [0x28, 0xb5, 0x2f, 0xfd] { return OCI.layerMediaType + "+zstd" }
        return OCI.layerMediaType
    }
}
