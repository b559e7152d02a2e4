import BerthKernel
import Crypto
import FoundationEssentials
import CArchive
import Glibc

/// berth's content-addressed image store, under `<state>/images/`:
///
/// ```
/// blobs/sha256/<hex>    manifests, configs and layer blobs, each verified against its digest on entry
/// layers/<hex>/         each layer unpacked once, named by its diff_id, in overlayfs form
/// images.json           the images: manifest digest, names (NAME:TAG), source, config, layers
/// tmp/                  what is being written (emptied when the store is next opened for writing)
/// lock                  flock(2): one writer at a time
/// ```
///
/// Every write is a temp file or directory under `tmp/` renamed into place, and an image
/// appears in images.json only once all its blobs and layers are in place: a kill -9 during
/// an import leaves nothing visible, or the whole image. What it leaves in `tmp/` is removed
/// by the next writer, unreferenced blobs and layers by `prune`.
///
/// Registry pulls use the same entry points as the importers: ``ingestBlob(digest:size:image:write:)``
/// for every blob, then ``commit(manifest:names:source:budget:progress:)``.
public final class ImageStore: @unchecked Sendable {
    public let root: String

    /// The store of the state directory `stateRoot` (default /var/lib/berth).
    public convenience init(state: StateStore) {
        self.init(root: state.root + "/images")
    }

    public init(root: String) {
        self.root = root
    }

    var blobsDirectory: String { root + "/blobs/sha256" }
    var layersDirectory: String { root + "/layers" }
    var tmpDirectory: String { root + "/tmp" }
    var recordsPath: String { root + "/images.json" }

    /// The file of a blob (which may not exist).
    public func blobPath(_ digest: String) -> String? {
        OCI.hex(of: digest).map { "\(blobsDirectory)/\($0)" }
    }

    public func hasBlob(_ digest: String) -> Bool {
        blobPath(digest).map { access($0, F_OK) == 0 } ?? false
    }

    /// The directory a layer is unpacked in, by its diff_id.
    public func layerDirectory(_ diffID: String) -> String? {
        OCI.hex(of: diffID).map { "\(layersDirectory)/\($0)" }
    }

    // MARK: - Records

    /// One image of the store.
    public struct Image: Codable, Sendable, Equatable {
        /// The manifest digest: the image's identity.
        public var digest: String
        /// Normalised names (`docker.io/library/busybox:latest`), each on one image only.
        public var names: [String]
        /// What it was imported from (an `image:` source as written, resolved), if imported.
        public var source: String?
        public var imported: Date
        public var config: String
        /// diff_ids, bottom layer first.
        public var layers: [String]
        /// Bytes of its manifest, config and layer blobs.
        public var size: Int64
        public var created: String?
        /// For an archive source: its size, mtime and inode when it was imported.
        public var sourceStamp: String?
    }

    struct Records: Codable {
        var version = 1
        var images: [Image] = []
    }

    func readRecords() throws(ImageStoreError) -> Records {
        guard let data = FileManager.default.contents(atPath: recordsPath) else { return Records() }
        do {
            return try JSONDecoder.berth.decode(Records.self, from: data)
        } catch {
            throw .system(KernelError("read", recordsPath, detail: "\(error)"))
        }
    }

    func writeRecords(_ records: Records) throws(ImageStoreError) {
        do {
            try StateStore.writeAtomically(try JSONEncoder.berth.encode(records), to: recordsPath)
        } catch {
            throw .system(KernelError("write", recordsPath, detail: "\(error)"))
        }
    }

    /// Every image, in the order they were imported.
    public func images() throws(ImageStoreError) -> [Image] {
        try readRecords().images
    }

    /// The image a reference names: a digest (`sha256:…`, or a unique prefix of its hex of at
    /// least 12 digits), or a name, normalised as the spec's `image:` is.
    public func image(_ reference: String) throws(ImageStoreError) -> Image? {
        let all = try images()
        if let exact = all.first(where: { $0.digest == reference }) { return exact }
        let hex = reference.hasPrefix("sha256:") ? String(reference.dropFirst(7)) : reference
        if hex.count >= 12, hex.allSatisfy(\.isHexDigit) {
            let matches = all.filter { $0.digest.dropFirst(7).hasPrefix(hex) }
            if matches.count == 1 { return matches[0] }
        }
        let name = (try? ImageReference(parsing: reference))?.description ?? reference
        return all.first { $0.names.contains(name) || $0.names.contains(reference) }
    }

    /// The image imported from `source` (as ``ImageSource/description`` writes it).
    public func image(importedFrom source: String) throws(ImageStoreError) -> Image? {
        try images().last { $0.source == source }
    }

    public func manifest(of image: Image) throws(ImageStoreError) -> OCI.Manifest {
        try decodeBlob(image.digest, as: OCI.Manifest.self, image: image.digest)
    }

    public func config(of image: Image) throws(ImageStoreError) -> OCI.ImageConfig {
        try decodeBlob(image.config, as: OCI.ImageConfig.self, image: image.digest)
    }

    /// The config's raw JSON, as `berth image inspect` prints it.
    public func configData(of image: Image) throws(ImageStoreError) -> Data {
        guard let path = blobPath(image.config), let data = FileManager.default.contents(atPath: path) else {
            throw .missingBlob(image: image.digest, blob: image.config)
        }
        return data
    }

    /// The unpacked layers, top-most first, as overlayfs's `lowerdir` lists them.
    public func lowerDirectories(of image: Image) -> [String] {
        image.layers.reversed().compactMap(layerDirectory)
    }

    func decodeBlob<T: Decodable>(_ digest: String, as: T.Type, image: String) throws(ImageStoreError) -> T {
        guard let path = blobPath(digest), let data = FileManager.default.contents(atPath: path) else {
            throw .missingBlob(image: image, blob: digest)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw .badSource(source: image, detail: "blob \(digest) is not a \(T.self): \(error)")
        }
    }

    // MARK: - Writing

    /// Runs `body` holding the store's lock, with `tmp/` emptied of what a dead writer left.
    public func withLock<T>(_ body: () throws(ImageStoreError) -> T) throws(ImageStoreError) -> T {
        for dir in [root, blobsDirectory, layersDirectory, tmpDirectory] {
            if mkdir(dir, 0o700) != 0 && errno != EEXIST {
                // The parents of the store (the state directory) may not exist yet.
                do {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                } catch {
                    throw .system(KernelError.lastError("mkdir", dir))
                }
            }
        }
        let lockPath = root + "/lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(KernelError.lastError("open", lockPath)) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw .system(KernelError.lastError("flock", lockPath)) }
        }
        do throws(KernelError) {
            try FileTree.removeContents(parent: AT_FDCWD, name: tmpDirectory)
        } catch {
            throw .system(error)
        }
        // What this writer staged is not needed once it is done, whether it succeeded or not.
        defer { try? FileTree.removeContents(parent: AT_FDCWD, name: tmpDirectory) }
        return try body()
    }

    /// Where a blob's bytes are written while it is verified.
    public final class BlobSink {
        let fd: Int32
        let path: String
        var hasher = SHA256()
        var count: Int64 = 0

        init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws(ImageStoreError) {
            hasher.update(bufferPointer: bytes)
            count += Int64(bytes.count)
            var off = 0
            while off < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .system(KernelError.lastError("write", path))
                }
                off += n
            }
        }

        var digest: String { "sha256:" + Printf.hex(hasher.finalize()) }
    }

    /// Adds a blob, whose bytes `write` hands to the sink, if its digest (and size, when
    /// given) are as named; otherwise nothing is added. Call with the lock held.
    public func ingestBlob(digest: String, size: Int64?, image: String,
                           write: (BlobSink) throws -> Void) throws(ImageStoreError) {
        guard let final = blobPath(digest) else { throw .unsupported(image: image, what: "the digest \(digest)") }
        let tmp = "\(tmpDirectory)/blob-\(UUID().uuidString)"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(KernelError.lastError("create", tmp)) }
        let sink = BlobSink(fd: fd, path: tmp)
        do {
            try write(sink)
        } catch {
            close(fd)
            unlink(tmp)
            if let error = error as? ImageStoreError { throw error }
            throw .badSource(source: image, detail: "reading blob \(digest): \(error)")
        }
        let synced = fsync(fd) == 0
        close(fd)
        let actual = sink.digest
        guard actual == digest else {
            unlink(tmp)
            throw .digestMismatch(image: image, blob: digest, actual: actual)
        }
        if let size, size != sink.count {
            unlink(tmp)
            throw .sizeMismatch(image: image, blob: digest, expected: size, actual: sink.count)
        }
        guard synced, rename(tmp, final) == 0 else {
            unlink(tmp)
            throw .system(KernelError.lastError("rename", final))
        }
        try Self.reach(.imageAfterBlob)
    }

    /// A failpoint of the import, failing as the store's error.
    static func reach(_ point: Failpoint) throws(ImageStoreError) {
        do { try point.hit() } catch { throw .system(error) }
    }

    /// Copies a file in as a blob, verified.
    public func ingestBlob(digest: String, size: Int64?, image: String, file: String) throws(ImageStoreError) {
        if hasBlob(digest) { return }
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .missingBlob(image: image, blob: digest) }
            throw .system(KernelError.lastError("open", file))
        }
        defer { close(fd) }
        try ingestBlob(digest: digest, size: size, image: image) { sink in
            var buffer = [UInt8](repeating: 0, count: 1 << 17)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ImageStoreError.system(KernelError.lastError("read", file))
                }
                if n == 0 { break }
                try buffer.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
    }

    /// Makes the manifest `digest` (its blobs already in the store) an image: unpacks the layers
    /// not yet unpacked, checks each against its diff_id, then records it under `names`.
    /// Call with the lock held. `progress` gets a line per layer.
    @discardableResult
    public func commit(manifest digest: String, names: [String], source: String?, sourceStamp: String? = nil,
                       budget: LayerBudget = LayerBudget(), progress: (String) -> Void = { _ in }) throws(ImageStoreError) -> Image {
        let label = names.first ?? source ?? digest
        let manifest = try decodeBlob(digest, as: OCI.Manifest.self, image: label)
        let config = try decodeBlob(manifest.config.digest, as: OCI.ImageConfig.self, image: label)
        guard manifest.layers.count == config.rootfs.diff_ids.count else {
            throw .layerCount(image: label, layers: manifest.layers.count, diffIDs: config.rootfs.diff_ids.count)
        }
        for (i, (layer, diffID)) in zip(manifest.layers, config.rootfs.diff_ids).enumerated() {
            let step = "layer \(i + 1)/\(manifest.layers.count) \(layer.digest.prefix(19))"
            guard let final = layerDirectory(diffID) else { throw .unsupported(image: label, what: "the diff_id \(diffID)") }
            if access(final, F_OK) == 0 {
                progress("\(step): already unpacked")
                continue
            }
            if let type = layer.mediaType, !(type.contains(".tar") || type.contains("rootfs.diff")) {
                throw .unsupported(image: label, what: "the layer media type \(type)")
            }
            guard let blob = blobPath(layer.digest), access(blob, F_OK) == 0 else {
                throw .missingBlob(image: label, blob: layer.digest)
            }
            let tmp = "\(tmpDirectory)/layer-\(UUID().uuidString)"
            guard mkdir(tmp, 0o755) == 0 else { throw .system(KernelError.lastError("mkdir", tmp)) }
            let applied: LayerApplied
            do {
                applied = try LayerExtractor.apply(file: blob, into: tmp, budget: budget)
            } catch {
                try? FileTree.remove(tmp)
                throw .layer(image: label, layer: layer.digest, error)
            }
            guard applied.diffID == diffID else {
                try? FileTree.remove(tmp)
                throw .diffIDMismatch(image: label, layer: layer.digest, expected: diffID, actual: applied.diffID)
            }
            // The tree reaches the disk before its name does: a crash never shows half a layer.
            let dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 { syncfs(dfd); close(dfd) }
            guard rename(tmp, final) == 0 else {
                let failure = KernelError.lastError("rename", final)
                try? FileTree.remove(tmp)
                throw .system(failure)
            }
            try Self.reach(.imageAfterLayer)
            var line = "\(step): unpacked \(ByteSize.format(applied.bytes)) in \(applied.entries) entries"
            if applied.skippedDevices > 0 { line += ", \(applied.skippedDevices) device nodes skipped" }
            progress(line)
        }
        let size = manifest.layers.reduce(manifest.config.size) { $0 + $1.size }
            + Int64((try? FileManager.default.attributesOfItem(atPath: blobPath(digest)!)[.size] as? Int) ?? 0)
        let image = Image(digest: digest, names: names, source: source, imported: Date(), config: manifest.config.digest,
                          layers: config.rootfs.diff_ids, size: size, created: config.created, sourceStamp: sourceStamp)
        try Self.reach(.imageBeforeRecords)
        var records = try readRecords()
        for i in records.images.indices {
            records.images[i].names.removeAll { names.contains($0) }
        }
        if let i = records.images.firstIndex(where: { $0.digest == digest }) {
            records.images[i].names = Array(Set(records.images[i].names + names)).sorted()
            records.images[i].source = source ?? records.images[i].source
            records.images[i].imported = image.imported
            records.images[i].sourceStamp = sourceStamp ?? records.images[i].sourceStamp
        } else {
            records.images.append(image)
        }
        try writeRecords(records)
        return records.images.first { $0.digest == digest }!
    }

    // MARK: - Removing

    /// Removes an image's record (its blobs and layers stay until ``prune(keeping:)``).
    /// `users` maps image digests to the containers using them; a used image is refused.
    @discardableResult
    public func remove(_ reference: String, users: [String: [String]]) throws(ImageStoreError) -> Image {
        try withLock { () throws(ImageStoreError) -> Image in
            guard let image = try image(reference) else { throw .notFound(reference: reference) }
            if let by = users[image.digest], !by.isEmpty { throw .inUse(reference: reference, by: by) }
            var records = try readRecords()
            records.images.removeAll { $0.digest == image.digest }
            try writeRecords(records)
            return image
        }
    }

    /// What a prune removed.
    public struct Pruned: Sendable, Equatable {
        public var blobs: [String] = []
        public var layers: [String] = []
        public var bytes: Int64 = 0
    }

    /// Removes the blobs and layers that no image of the store references, and the images
    /// that are neither named nor in `keeping` (digests containers use).
    public func prune(keeping: Set<String> = []) throws(ImageStoreError) -> Pruned {
        try withLock { () throws(ImageStoreError) -> Pruned in
            var records = try readRecords()
            records.images.removeAll { $0.names.isEmpty && !keeping.contains($0.digest) }
            try writeRecords(records)
            var blobs: Set<String> = []
            var layers: Set<String> = []
            for image in records.images {
                blobs.insert(image.digest)
                blobs.insert(image.config)
                layers.formUnion(image.layers)
                if let manifest = try? manifest(of: image) { blobs.formUnion(manifest.layers.map(\.digest)) }
            }
            var pruned = Pruned()
            let fm = FileManager.default
            for hex in (try? fm.contentsOfDirectory(atPath: blobsDirectory)) ?? [] where !blobs.contains("sha256:" + hex) {
                let path = "\(blobsDirectory)/\(hex)"
                pruned.bytes += Int64((try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
                unlink(path)
                pruned.blobs.append("sha256:" + hex)
            }
            for hex in (try? fm.contentsOfDirectory(atPath: layersDirectory)) ?? [] where !layers.contains("sha256:" + hex) {
                let path = "\(layersDirectory)/\(hex)"
                pruned.bytes += ImageStore.treeSize(path)
                do throws(KernelError) { try FileTree.remove(path) } catch { throw .system(error) }
                pruned.layers.append("sha256:" + hex)
            }
            pruned.blobs.sort()
            pruned.layers.sort()
            return pruned
        }
    }

    /// Bytes of the regular files under `path` (hard links counted once).
    static func treeSize(_ path: String) -> Int64 {
        var total: Int64 = 0
        var seen: Set<UInt64> = []
        FileTree.walk(path) { _, st in
            guard st.st_mode & S_IFMT == S_IFREG else { return }
            if st.st_nlink > 1, !seen.insert(UInt64(st.st_ino)).inserted { return }
            total += Int64(st.st_blocks) * 512
        }
        return total
    }
}

extension JSONEncoder {
    static var berth: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        e.dateEncodingStrategy = .iso8601
        return e
    }
}

extension JSONDecoder {
    static var berth: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
