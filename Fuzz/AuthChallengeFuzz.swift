// libFuzzer target: any bytes as a registry's WWW-Authenticate header, through the
// challenge parser. Compiled with Sources/BerthRegistry/Auth/Challenge.swift by Fuzz/build.sh.

@_cdecl("LLVMFuzzerTestOneInput")
public func berthFuzzAuthChallenge(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let header = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let challenges = try? AuthChallenge.parse(header) else { return 0 }
    for c in challenges {
        precondition(!c.scheme.isEmpty && c.scheme == c.scheme.lowercased(), "scheme \(c.scheme.debugDescription)")
        for name in c.parameters.keys {
            precondition(!name.isEmpty && name == name.lowercased(), "parameter \(name.debugDescription)")
        }
    }
    // The same header reads the same every time.
    precondition((try? AuthChallenge.parse(header)) == challenges, "a second parse differs")
    return 0
}
