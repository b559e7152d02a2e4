import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import Synchronization

/// What a pull reports while it runs, for a progress display. Sent from several tasks at
/// once (layers download in parallel): the receiver must be thread-safe.
public enum PullEvent: Sendable {
    /// The reference named `digest`; `platform` was picked from its index (nil: a single manifest).
    case resolved(reference: RegistryReference, digest: Digest, platform: Platform?)
    /// A layer is needed: `present` when the layout already holds it.
    case layer(Digest, size: Int64, present: Bool)
    case progress(Digest, bytes: Int64, total: Int64)
    /// A download broke and is being retried (resumed where the server allows).
    case retrying(Digest, attempt: Int, reason: String)
    case layerDone(Digest, size: Int64)
}

/// What a pull fetched and recorded.
public struct PullResult: Sendable, Equatable {
    public var reference: RegistryReference
    /// What the reference named in the registry: an index's digest for a multi-platform tag.
    public var sourceDigest: Digest
    /// The manifest of the picked platform (the image's identity in the layout).
    public var manifest: Descriptor
    public var config: Descriptor
    public var layers: [Descriptor]
    public var platform: Platform?
    /// Bytes that crossed the network for layers and config (0 when all were present).
    public var downloadedBytes: Int64
}

/// Pulls images from registries into an ``OCILayout``: manifest negotiation, the platform
/// pick, blobs streamed to disk while hashed, verified before they take their names.
public struct Puller: Sendable {
    public var configuration: RegistryConfiguration
    public var platform: Platform
    /// Whether the destination already holds a blob, so that it is not fetched (the image
    /// store, when the layout is only a staging area).
    public var present: @Sendable (Digest, Int64) -> Bool = { _, _ in false }

    public init(configuration: RegistryConfiguration, platform: Platform = .host) {
        self.configuration = configuration
        self.platform = platform
    }

    static let manifestLimit = 4 << 20

    /// The digest `reference` names in the registry now, without pulling anything (for
    /// `plan --refresh` and `pull: always`). Throws ``RegistryError``.
    public func resolve(_ reference: RegistryReference) async throws -> Digest {
        if let digest = reference.pinned { return digest }
        return try await withClient(reference) { client in
            try await fetchManifest(client, reference: reference, name: reference.manifestReference).digest
        }
    }

    /// The manifest of this platform that `reference` names now (an index resolved through
    /// its entry for the platform): what a pull would record. Fetches manifests only.
    public func resolveManifest(_ reference: RegistryReference) async throws -> Digest {
        try await withClient(reference) { client in
            let top = try await fetchManifest(client, reference: reference, name: reference.manifestReference)
            guard MediaType.isIndex(top.mediaType) else { return top.digest }
            guard let index = try? JSONDecoder().decode(ImageIndex.self, from: top.bytes) else {
                throw RegistryError.badManifest(reference: reference.description, detail: "the index is not valid JSON of the OCI form")
            }
            guard let choice = platform.pick(from: index.manifests) else {
                throw RegistryError.wrongPlatform(reference: reference.description, wanted: platform.description,
                                                  available: index.manifests.compactMap { $0.platform?.description })
            }
            return choice.digest
        }
    }

    /// Pulls `reference` into `layout` and records it there under its full name. Blobs the
    /// layout already holds are not fetched again. Throws ``RegistryError``.
    public func pull(_ reference: RegistryReference, into layout: OCILayout,
                     progress: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> PullResult {
        try layout.prepare()
        return try await withClient(reference) { client in
            let top = try await fetchManifest(client, reference: reference, name: reference.manifestReference)
            var manifestBytes = top.bytes
            var manifestDescriptor = Descriptor(mediaType: top.mediaType, digest: top.digest, size: Int64(top.bytes.count))
            var picked: Platform?
            if MediaType.isIndex(top.mediaType) {
                guard let index = try? JSONDecoder().decode(ImageIndex.self, from: top.bytes) else {
                    throw RegistryError.badManifest(reference: reference.description, detail: "the index is not valid JSON of the OCI form")
                }
                guard let choice = platform.pick(from: index.manifests) else {
                    let offered = index.manifests.compactMap { $0.platform?.description }
                    throw RegistryError.wrongPlatform(reference: reference.description, wanted: platform.description, available: offered)
                }
                try layout.storeVerified(top.bytes, as: top.digest, what: "index \(top.digest.short)")
                let m = try await fetchManifest(client, reference: reference, name: choice.digest.description)
                guard MediaType.isManifest(m.mediaType) else {
                    throw RegistryError.badManifest(reference: reference.description, detail: "the index entry for \(platform) is a \(m.mediaType), not an image manifest")
                }
                manifestBytes = m.bytes
                manifestDescriptor = Descriptor(mediaType: m.mediaType, digest: m.digest, size: Int64(m.bytes.count), platform: choice.platform)
                picked = choice.platform
            }
            progress(.resolved(reference: reference, digest: top.digest, platform: picked))
            guard MediaType.isManifest(manifestDescriptor.mediaType) else {
                throw RegistryError.badManifest(reference: reference.description, detail: Self.unsupported(manifestDescriptor.mediaType))
            }
            let manifest: ImageManifest
            do {
                manifest = try JSONDecoder().decode(ImageManifest.self, from: manifestBytes)
            } catch {
                throw RegistryError.badManifest(reference: reference.description, detail: "the manifest is not valid JSON of the OCI form")
            }
            for layer in manifest.layers where layer.mediaType.contains("foreign") || !(layer.urls ?? []).isEmpty {
                throw RegistryError.badManifest(reference: reference.description, detail: "layer \(layer.digest.short) is a foreign layer (\(layer.mediaType)); berth fetches only from the registry")
            }
            for blob in [manifest.config] + manifest.layers where blob.size < 0 {
                throw RegistryError.badManifest(reference: reference.description, detail: "blob \(blob.digest.short) has a negative size")
            }

            let downloaded = Counter()
            try await fetchBlob(client, reference: reference, manifest.config, into: layout, what: "config \(manifest.config.digest.short)", downloaded: downloaded, progress: nil)
            try await withThrowingTaskGroup(of: Void.self) { group in
                var running = 0
                var seen = Set<Digest>()
                for layer in manifest.layers where seen.insert(layer.digest).inserted {
                    let have = layout.hasBlob(layer.digest, size: layer.size) || present(layer.digest, layer.size)
                    progress(.layer(layer.digest, size: layer.size, present: have))
                    if have { continue }
                    if running == configuration.parallelDownloads {
                        try await group.next()
                        running -= 1
                    }
                    running += 1
                    group.addTask {
                        try await fetchBlob(client, reference: reference, layer, into: layout, what: "layer \(layer.digest.short) of \(reference)", downloaded: downloaded, progress: progress)
                        progress(.layerDone(layer.digest, size: layer.size))
                    }
                }
                try await group.waitForAll()
            }
            // The manifest goes in last: a layout names an image only once all of it is there.
            try layout.storeVerified(manifestBytes, as: manifestDescriptor.digest, what: "manifest \(manifestDescriptor.digest.short)")
            try layout.record(manifest: manifestDescriptor, name: reference.description, sourceDigest: top.digest)
            return PullResult(reference: reference, sourceDigest: top.digest, manifest: manifestDescriptor,
                              config: manifest.config, layers: manifest.layers, platform: picked,
                              downloadedBytes: downloaded.value)
        }
    }

    private func withClient<T: Sendable>(_ reference: RegistryReference, _ body: (RegistryClient) async throws -> T) async throws -> T {
        let client = try RegistryClient(registry: reference.registry, apiHost: reference.apiHost, configuration: configuration)
        do {
            let value = try await body(client)
            await client.shutdown()
            return value
        } catch {
            await client.shutdown()
            if let t = error as? RegistryClient.Transient { throw t.final }
            throw error
        }
    }

    struct FetchedManifest {
        var bytes: Data
        var mediaType: String
        var digest: Digest
    }

    private func fetchManifest(_ client: RegistryClient, reference: RegistryReference, name: String) async throws -> FetchedManifest {
        let path = "\(reference.repository)/manifests/\(name)"
        var attempt = 1
        while true {
            let response = try await client.send(.init(path: path, accept: MediaType.manifestAccept))
            if response.status == 404 {
                let body = (try? await response.body.collect(upTo: 1 << 16)).map { Data(($0).readableBytesView) } ?? Data()
                var error = Self.notFound(body, reference: reference)
                // Registries answer MANIFEST_UNKNOWN for a repository they do not have, too: its tag list tells.
                if case .unknownTag = error, try await !repositoryExists(client, reference) {
                    error = .unknownImage(reference: reference.description)
                }
                throw error
            }
            let bytes: Data
            do {
                bytes = Data((try await response.body.collect(upTo: Self.manifestLimit)).readableBytesView)
            } catch let e as NIOTooManyBytesError {
                _ = e
                throw RegistryError.badManifest(reference: reference.description, detail: "the manifest is larger than \(Self.manifestLimit >> 20) MiB")
            } catch {
                let e = client.classify(error, url: path)
                guard e is RegistryClient.Transient, attempt < configuration.attempts else {
                    throw (e as? RegistryClient.Transient)?.final ?? e
                }
                try await client.backoff(attempt)
                attempt += 1
                continue
            }
            let digest = SHA256Hasher.digest([UInt8](bytes))
            if let wanted = Digest(name), wanted != digest {
                throw RegistryError.digestMismatch(what: "manifest of \(reference)", expected: wanted.description, actual: digest.description)
            }
            if let claimed = response.headers.first(name: "Docker-Content-Digest"), let d = Digest(claimed), d != digest {
                throw RegistryError.digestMismatch(what: "manifest of \(reference)", expected: d.description, actual: digest.description)
            }
            let contentType = response.headers.first(name: "Content-Type")?.split(separator: ";").first.map {
                String($0).trimmingWhitespace()
            }
            struct Probe: Decodable { var mediaType: String?; var schemaVersion: Int?; var manifests: [Descriptor]? }
            let probe = try? JSONDecoder().decode(Probe.self, from: bytes)
            var mediaType = probe?.mediaType ?? contentType ?? ""
            if mediaType.isEmpty || mediaType == "application/json" {
                mediaType = probe?.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest
            }
            if probe?.schemaVersion == 1 || mediaType == MediaType.dockerSchema1 || mediaType == MediaType.dockerSchema1Unsigned {
                throw RegistryError.badManifest(reference: reference.description, detail: Self.unsupported(MediaType.dockerSchema1))
            }
            guard MediaType.isIndex(mediaType) || MediaType.isManifest(mediaType) else {
                throw RegistryError.badManifest(reference: reference.description, detail: Self.unsupported(mediaType))
            }
            return FetchedManifest(bytes: bytes, mediaType: mediaType, digest: digest)
        }
    }

    private func repositoryExists(_ client: RegistryClient, _ reference: RegistryReference) async throws -> Bool {
        let response = try await client.send(.init(path: "\(reference.repository)/tags/list"))
        _ = try? await response.body.collect(upTo: 1 << 20)
        return response.status != 404
    }

    static func unsupported(_ mediaType: String) -> String {
        mediaType == MediaType.dockerSchema1
            ? "Docker schema 1 manifests are not supported (push the image again with a current client)"
            : "media type \(mediaType) is not an image manifest or index"
    }

    /// A 404's error body (distribution's `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`) as a case.
    static func notFound(_ body: Data, reference: RegistryReference) -> RegistryError {
        struct Errors: Decodable { struct E: Decodable { var code: String }; var errors: [E] }
        let codes = (try? JSONDecoder().decode(Errors.self, from: body))?.errors.map(\.code) ?? []
        if codes.contains("MANIFEST_UNKNOWN") || codes.contains("TAG_INVALID") || codes.contains("MANIFEST_INVALID") {
            return .unknownTag(reference: reference.description)
        }
        return .unknownImage(reference: reference.description)
    }

    /// Streams one blob into the layout, hashing as it writes; resumes with a Range request
    /// after a broken connection, starts over when the server ignores the range.
    private func fetchBlob(_ client: RegistryClient, reference: RegistryReference, _ blob: Descriptor, into layout: OCILayout,
                           what: String, downloaded: Counter, progress: (@Sendable (PullEvent) -> Void)?) async throws {
        if layout.hasBlob(blob.digest, size: blob.size) || present(blob.digest, blob.size) { return }
        let writer = try BlobWriter(layout: layout, digest: blob.digest)
        do {
            var attempt = 1
            while true {
                do {
                    let from = writer.written
                    let response = try await client.send(.init(path: "\(reference.repository)/blobs/\(blob.digest)", range: from > 0 ? from : nil))
                    if response.status == 404 {
                        throw RegistryError.badManifest(reference: reference.description, detail: "the registry has no blob \(blob.digest) that the manifest names")
                    }
                    if from > 0, response.status != 206 { try writer.reset() }
                    var lastReport = writer.written
                    for try await chunk in response.body {
                        chunk.withUnsafeReadableBytes { writer.append($0) }
                        downloaded.add(Int64(chunk.readableBytes))
                        // A server that sends more than the manifest said is cut off at once.
                        if writer.written > blob.size {
                            throw RegistryError.sizeMismatch(what: what, expected: blob.size, actual: writer.written)
                        }
                        if let progress, writer.written - lastReport >= 256 << 10 {
                            lastReport = writer.written
                            progress(.progress(blob.digest, bytes: writer.written, total: blob.size))
                        }
                    }
                    if writer.written < blob.size {
                        // The body ended early without an error from the stack: a cut connection.
                        throw RegistryClient.Transient(final: .sizeMismatch(what: what, expected: blob.size, actual: writer.written))
                    }
                    break
                } catch {
                    let e = client.classify(error, url: "\(reference.apiHost)/v2/\(reference.repository)/blobs/\(blob.digest)")
                    guard let t = e as? RegistryClient.Transient else { throw e }
                    guard attempt < configuration.attempts else { throw t.final }
                    progress?(.retrying(blob.digest, attempt: attempt + 1, reason: t.final.description))
                    try await client.backoff(attempt)
                    attempt += 1
                }
            }
            progress?(.progress(blob.digest, bytes: writer.written, total: blob.size))
            try writer.commit(expectedSize: blob.size, what: what)
        } catch {
            writer.abandon()
            throw error
        }
    }
}

/// Bytes downloaded, summed across the parallel downloads.
final class Counter: Sendable {
    private let total = Mutex<Int64>(0)
    func add(_ n: Int64) { total.withLock { $0 += n } }
    var value: Int64 { total.withLock { $0 } }
}
