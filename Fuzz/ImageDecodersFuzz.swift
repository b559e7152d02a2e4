// libFuzzer target: any bytes as the OCI documents berth reads from image layouts and
// archives others made (index.json, manifests, image configs). Compiled with BerthSpec's
// sources and Sources/Berth/Image/OCI.swift by Fuzz/build.sh.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func berthFuzzImageDecoders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    let decoder = JSONDecoder()
    if let index = try? decoder.decode(OCI.Index.self, from: bytes) {
        index.manifests.forEach(checkDescriptor)
        roundTrip(index)
    }
    if let manifest = try? decoder.decode(OCI.Manifest.self, from: bytes) {
        checkDescriptor(manifest.config)
        manifest.layers.forEach(checkDescriptor)
        roundTrip(manifest)
    }
    if let config = try? decoder.decode(OCI.ImageConfig.self, from: bytes) {
        // A diff_id names a directory of the store: only a well-formed digest may.
        for diffID in config.rootfs.diff_ids { _ = OCI.hex(of: diffID).map(checkHex) }
        roundTrip(config)
    }
    return 0
}

/// A digest becomes a file name in the store: it must be exactly 64 lower-case hex digits.
func checkDescriptor(_ d: OCI.Descriptor) {
    if let hex = OCI.hex(of: d.digest) { checkHex(hex) }
}

func checkHex(_ hex: String) {
    precondition(hex.utf8.count == 64 && hex.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) },
                 "a digest that is not 64 hex digits became a file name")
}

/// What decoded, encodes, and decodes again.
func roundTrip<T: Codable>(_ value: T) {
    guard let data = try? JSONEncoder().encode(value) else { preconditionFailure("\(T.self) decoded but does not encode") }
    precondition((try? JSONDecoder().decode(T.self, from: data)) != nil, "\(T.self) does not decode what it encoded")
}
