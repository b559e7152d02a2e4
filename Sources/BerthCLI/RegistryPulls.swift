import Berth
import BerthRegistry
import BerthSpec
import FoundationEssentials
import Glibc

/// Registry images into berth's image store: the pull stages blobs in a layout of its own
/// (verified there), the store ingests them (verified again) and records the image under its
/// reference, with the digest the reference named in the registry as its source stamp.
struct RegistryPulls {
    let engine: Engine
    let configuration: RegistryConfiguration
    var platform: Platform = .host

    /// Pulls `reference` into the store; blobs the store holds are not fetched.
    @discardableResult
    func pull(_ reference: ImageReference, progress: @escaping @Sendable (PullEvent) -> Void) throws -> PullResult {
        let store = engine.images
        let staging = engine.store.root + "/registry"
        // Pulls that died (their pid is gone) leave their staging directory behind.
        if let names = try? FileManager.default.contentsOfDirectory(atPath: staging) {
            for name in names where name.hasPrefix("pull-") {
                if let pid = name.split(separator: "-").dropFirst().first.flatMap({ Int32($0) }), kill(pid, 0) != 0, errno == ESRCH {
                    try? FileManager.default.removeItem(atPath: staging + "/" + name)
                }
            }
        }
        let layout = OCILayout(root: staging + "/pull-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        var puller = Puller(configuration: configuration, platform: platform)
        puller.present = { digest, _ in store.hasBlob(digest.description) }
        let configured = puller
        let result: PullResult
        do {
            result = try runBlocking { try await configured.pull(reference, into: layout, progress: progress) }
        } catch let e as RegistryError {
            throw CLIError(e.description)
        }
        do {
            try store.withLock { () throws(ImageStoreError) in
                for blob in [result.config] + result.layers + [result.manifest] {
                    try store.ingestBlob(digest: blob.digest.description, size: blob.size, image: reference.description,
                                         file: layout.blobPath(blob.digest))
                }
                try store.commit(manifest: result.manifest.digest.description, names: [reference.description],
                                 source: reference.description, sourceStamp: result.sourceDigest.description)
            }
        } catch {
            throw CLIError("\(reference): \(error)")
        }
        return result
    }

    /// What apply pulls before it plans, per container's `pull:`: `missing` when the store has
    /// no image of the name, `always` when the registry's manifest for the tag is not the
    /// store's, `never` nothing (preflight reports a missing image).
    func pullForApply(_ spec: Spec, log: @escaping @Sendable (String) -> Void) throws {
        var done: Set<String> = []
        for c in spec.containers {
            guard case .registry(let reference)? = c.image, c.pull != .never, done.insert(reference.description).inserted else { continue }
            let stored = (try? engine.images.image(reference.description))?.digest
            // A digest names one image for good: once stored, there is nothing to ask.
            if c.pull == .missing || reference.digest != nil, stored != nil { continue }
            if c.pull == .always, let stored {
                let now = try remoteManifest(reference, field: "containers.\(c.name).image")
                if now.description == stored { continue }
                log("containers.\(c.name).image: \(reference) moved to \(now.short), pulling")
            } else {
                log("containers.\(c.name).image: pulling \(reference)")
            }
            do {
                try pull(reference) { event in
                    if case .layerDone(let d, let size) = event { log("  \(d.short): \(PullProgressDisplay.bytes(size))") }
                }
            } catch let e as CLIError {
                throw CLIError("containers.\(c.name).image: \(e.description)")
            }
        }
    }

    /// The platform manifest `reference` names in the registry now.
    func remoteManifest(_ reference: ImageReference, field: String) throws -> Digest {
        let puller = Puller(configuration: configuration, platform: platform)
        do {
            return try runBlocking { try await puller.resolveManifest(reference) }
        } catch let e as RegistryError {
            throw CLIError("\(field): \(e.description)")
        }
    }
}
