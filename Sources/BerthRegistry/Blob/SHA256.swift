import BerthKernel
import Crypto

/// Incremental SHA-256 (swift-crypto, as the image store uses).
final class SHA256Hasher {
    private var hasher = SHA256()

    func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest of everything fed so far.
    func finish() -> Digest { Digest(hex: Printf.hex(hasher.finalize())) }

    static func digest(_ bytes: [UInt8]) -> Digest {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finish()
    }
}
