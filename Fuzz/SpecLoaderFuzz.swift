// libFuzzer target: any bytes through berth's spec loader (libyaml, the YAML node
// tree, validation, diagnostics and their rendering). Compiled together with
// BerthSpec's sources by Fuzz/build.sh, outside the normal package build.

@_cdecl("LLVMFuzzerTestOneInput")
public func berthFuzzSpecLoader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch SpecLoader.load(bytes: bytes, fileName: "/fuzz/spec.yaml", baseDirectory: "/fuzz") {
    case .success(let spec):
        // Whatever validated must be a spec the rest of berth can use.
        precondition(!spec.project.isEmpty, "a valid spec without a project name")
    case .failure(let error):
        // Every failure renders, with its source lines, as users would see it.
        precondition(!error.diagnostics.isEmpty, "a failure without a diagnostic")
        _ = error.description
    }
    return 0
}
