import Crypto

/// Incremental SHA-256 (swift-crypto, as the image store uses).
final class SHA256Hasher {
    private var hasher = SHA256()

    func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest of everything fed so far.
    func finish() -> Digest {
        let hexDigits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for b in hasher.finalize() { hex.append(hexDigits[Int(b >> 4)]); hex.append(hexDigits[Int(b & 0xF)]) }
        return Digest(hex: String(decoding: hex, as: UTF8.self))
    }

    static func digest(_ bytes: [UInt8]) -> Digest {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finish()
    }
}
