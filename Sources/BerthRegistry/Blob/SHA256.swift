import CCrypto

/// Incremental SHA-256 through OpenSSL's libcrypto (hardware SHA extensions where the CPU has them).
final class SHA256Hasher {
    private let context: OpaquePointer

    init() {
        context = EVP_MD_CTX_new()
        // Cannot fail for a built-in digest with the default provider.
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest of everything fed so far; the hasher is spent afterwards.
    func finish() -> Digest {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        let hexDigits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for b in out { hex.append(hexDigits[Int(b >> 4)]); hex.append(hexDigits[Int(b & 0xF)]) }
        return Digest(hex: String(decoding: hex, as: UTF8.self))
    }

    static func digest(_ bytes: [UInt8]) -> Digest {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finish()
    }
}
