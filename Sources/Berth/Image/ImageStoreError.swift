import BerthKernel

/// Why an image could not be imported, found or removed. The image (its source or
/// reference), the layer and the entry are named where they are known.
public enum ImageStoreError: Error, Sendable, CustomStringConvertible {
    /// The source file or directory is not there.
    case sourceMissing(source: String)
    /// The source is not what its transport says (no `oci-layout`, no `manifest.json`, bad JSON).
    case badSource(source: String, detail: String)
    /// The source holds several images and the reference does not say which.
    case ambiguous(source: String, choices: [String])
    /// The tag, name or digest is not in the source.
    case notInSource(source: String, wanted: String)
    /// An index without a manifest for this machine.
    case noPlatform(source: String, host: String, offered: [String])
    /// A blob whose bytes do not have the digest (or size) it is named by.
    case digestMismatch(image: String, blob: String, actual: String)
    case sizeMismatch(image: String, blob: String, expected: Int64, actual: Int64)
    /// A blob a manifest names that is neither in the source nor in the store.
    case missingBlob(image: String, blob: String)
    /// A media type berth does not read (a foreign layer, an unknown manifest).
    case unsupported(image: String, what: String)
    /// The config's diff_ids and the manifest's layers disagree.
    case layerCount(image: String, layers: Int, diffIDs: Int)
    /// A layer could not be read or applied (hostile or broken).
    case layer(image: String, layer: String, ArchiveError)
    /// A layer's uncompressed digest is not the diff_id the config promises.
    case diffIDMismatch(image: String, layer: String, expected: String, actual: String)
    /// No image in the store has that name or digest.
    case notFound(reference: String)
    /// A container uses it.
    case inUse(reference: String, by: [String])
    /// A file of the store could not be read or written.
    case system(KernelError)

    public var description: String {
        switch self {
        case .sourceMissing(let s): "\(s): no such file or directory"
        case .badSource(let s, let d): "\(s): \(d)"
        case .ambiguous(let s, let c): "\(s) holds several images (\(c.joined(separator: ", "))): name one"
        case .notInSource(let s, let w): "\(s): no image \(w) in it"
        case .noPlatform(let s, let h, let o): "\(s): no image for \(h) (it has \(o.isEmpty ? "none with a platform" : o.joined(separator: ", ")))"
        case .digestMismatch(let i, let b, let a): "image \(i): blob \(b) has the digest \(a): refused"
        case .sizeMismatch(let i, let b, let e, let a): "image \(i): blob \(b) is \(a) bytes, not the \(e) its descriptor says: refused"
        case .missingBlob(let i, let b): "image \(i): blob \(b) is missing"
        case .unsupported(let i, let w): "image \(i): \(w) is not supported"
        case .layerCount(let i, let l, let d): "image \(i): \(l) layers but \(d) diff_ids in its config"
        case .layer(let i, let l, let e): "image \(i), layer \(l): \(e)"
        case .diffIDMismatch(let i, let l, let e, let a): "image \(i), layer \(l): uncompressed digest \(a), not the diff_id \(e): refused"
        case .notFound(let r): "no image \(r) in the store"
        case .inUse(let r, let by): "image \(r) is used by \(by.joined(separator: ", ")): not removed"
        case .system(let k): "\(k)"
        }
    }
}
