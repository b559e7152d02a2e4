import BerthKernel
import FoundationEssentials
import Glibc

/// An OCI image layout directory (image-spec layout.md) that pulls write into: blobs by digest
/// under `blobs/sha256/`, and `index.json` naming each pulled image by its reference in the
/// `org.opencontainers.image.ref.name` annotation.
///
/// A blob file under its digest's name is always complete and verified: bytes arrive in a
/// temporary file (`.<hex>-<random>.<pid>.tmp` beside it, ``AtomicFile``'s form) and are renamed only once their size and
/// digest match, so a pull that fails or is killed leaves at most a temporary file.
public struct OCILayout: Sendable {
    public let root: String

    /// The annotation of `index.json` entries that holds the reference they were pulled as.
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"
    /// The digest the reference named in the registry (an index's, for a multi-platform tag).
    public static let sourceDigestAnnotation = "dev.berth.registry.digest"

    public init(root: String) { self.root = root }

    var blobDirectory: String { root + "/blobs/sha256" }

    public func blobPath(_ digest: Digest) -> String { blobDirectory + "/" + digest.hex }

    /// Makes the directories and the `oci-layout` file; removes temporaries of dead pulls.
    func prepare() throws(RegistryError) {
        do {
            try FileManager.default.createDirectory(atPath: blobDirectory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: blobDirectory, detail: "cannot create: \(FileErrorText.reason(error))")
        }
        let marker = root + "/oci-layout"
        if !FileManager.default.fileExists(atPath: marker) {
            try write(Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: marker)
        }
        removeStaleTemporaries()
    }

    /// Whether the layout holds `digest` with `size` bytes (verified when it was written).
    public func hasBlob(_ digest: Digest, size: Int64) -> Bool {
        var st = stat()
        return stat(blobPath(digest), &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && Int64(st.st_size) == size
    }

    func readBlob(_ digest: Digest) throws(RegistryError) -> Data {
        guard let d = FileManager.default.contents(atPath: blobPath(digest)) else {
            throw .io(path: blobPath(digest), detail: "cannot be read")
        }
        return d
    }

    /// Stores small bytes (a manifest, an index) under their digest after checking it.
    func storeVerified(_ bytes: Data, as digest: Digest, what: String) throws(RegistryError) {
        let writer = try BlobWriter(layout: self, digest: digest)
        bytes.withUnsafeBytes { writer.append($0) }
        do {
            try writer.commit(expectedSize: Int64(bytes.count), what: what)
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// Records `manifest` under `name` in index.json, replacing an entry of the same name.
    func record(manifest: Descriptor, name: String, sourceDigest: Digest) throws(RegistryError) {
        let lockPath = root + "/.index.lock"
        let lock = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw .io(path: lockPath, detail: String(cString: strerror(errno))) }
        defer { close(lock) }
        // Two pulls into one layout must not lose each other's entries.
        guard flock(lock, LOCK_EX) == 0 else { throw .io(path: lockPath, detail: String(cString: strerror(errno))) }
        let indexPath = root + "/index.json"
        var index = ImageIndex(schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [])
        if let data = FileManager.default.contents(atPath: indexPath) {
            guard let existing = try? JSONDecoder().decode(ImageIndex.self, from: data) else {
                throw .io(path: indexPath, detail: "is not an OCI index")
            }
            index = existing
        }
        index.manifests.removeAll { $0.annotations?[Self.refNameAnnotation] == name }
        var entry = manifest
        entry.annotations = [Self.refNameAnnotation: name, Self.sourceDigestAnnotation: sourceDigest.description]
        index.manifests.append(entry)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(index) else { throw .io(path: indexPath, detail: "cannot encode") }
        try write(data, to: indexPath)
    }

    /// The entry recorded for `name`, if any.
    public func entry(named name: String) -> Descriptor? {
        guard let data = FileManager.default.contents(atPath: root + "/index.json"),
              let index = try? JSONDecoder().decode(ImageIndex.self, from: data) else { return nil }
        return index.manifests.last { $0.annotations?[Self.refNameAnnotation] == name }
    }

    /// Atomic replace (``AtomicFile``): temp file, fsync, rename, fsync of the directory.
    func write(_ data: Data, to path: String) throws(RegistryError) {
        do {
            try AtomicFile.write(data, to: path, mode: 0o644)
        } catch {
            throw .io(path: path, detail: error.description)
        }
    }

    /// Temporaries whose writer is no longer running: a killed pull's leftovers (blobs on
    /// their way in, and an `index.json` or `oci-layout` that was being replaced).
    func removeStaleTemporaries() {
        for dir in [blobDirectory, root] {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names where AtomicFile.isLeftOfDeadWriter(name) { unlink(dir + "/" + name) }
        }
    }
}

/// Bytes of one blob on their way into the layout: hashed as they are written.
final class BlobWriter: @unchecked Sendable {
    let digest: Digest
    let temporary: String
    let final: String
    private let fd: Int32
    private var hasher = SHA256Hasher()
    private(set) var written: Int64 = 0
    private var failed: Int32 = 0

    init(layout: OCILayout, digest: Digest) throws(RegistryError) {
        self.digest = digest
        final = layout.blobPath(digest)
        temporary = layout.blobDirectory + "/"
            + AtomicFile.temporaryName(for: "\(digest.hex)-\(UInt32.random(in: 0...UInt32.max))")
        fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: temporary, detail: String(cString: strerror(errno))) }
    }

    deinit { if fd >= 0 { close(fd) } }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard failed == 0 else { return }
        hasher.update(bytes)
        if case let e = AtomicFile.writeAll(fd, bytes), e != 0 { failed = e }
        written += Int64(bytes.count)
    }

    /// Starts again from nothing (a retry that could not resume).
    func reset() throws(RegistryError) {
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw .io(path: temporary, detail: String(cString: strerror(errno)))
        }
        hasher = SHA256Hasher()
        written = 0
        failed = 0
    }

    /// Verifies size and digest; only then the blob takes its name.
    func commit(expectedSize: Int64, what: String) throws(RegistryError) {
        guard failed == 0 else { throw .io(path: temporary, detail: String(cString: strerror(failed))) }
        guard written == expectedSize else { throw .sizeMismatch(what: what, expected: expectedSize, actual: written) }
        let actual = hasher.finish()
        guard actual == digest else { throw .digestMismatch(what: what, expected: digest.description, actual: actual.description) }
        guard fsync(fd) == 0, rename(temporary, final) == 0 else {
            throw .io(path: final, detail: String(cString: strerror(errno)))
        }
        AtomicFile.syncDirectory(of: final)
    }

    func abandon() { unlink(temporary) }
}
