// libFuzzer target: any bytes as the name of a tar entry in an image layer, through the
// pure half of extraction (TarEntryPath; the kernel's openat2 RESOLVE_IN_ROOT is the other
// half). Compiled with Sources/BerthKernel/Archive/TarEntryPath.swift by Fuzz/build.sh.

@_cdecl("LLVMFuzzerTestOneInput")
public func berthFuzzTarEntryPath(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let name = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parts = name.split(separator: "/", omittingEmptySubsequences: false)
    let leaves = parts.filter { !$0.isEmpty && $0 != "." }
    let hostile = name.hasPrefix("/") || parts.contains("..") || leaves.last == ".wh.." || leaves.last == ".wh..."
    guard let path = TarEntryPath(name) else {
        precondition(hostile, "a harmless name was refused: \(name.debugDescription)")
        return 0
    }
    precondition(!hostile, "an absolute name or one with .. was accepted: \(name.debugDescription)")
    switch path {
    case .root:
        precondition(parts.allSatisfy { $0 == "." || $0.isEmpty }, "\(name.debugDescription) is not the root")
    case .opaque(let directory), .bookkeeping(let directory):
        checkDirectory(directory)
    case .whiteout(let parent, let hidden):
        checkDirectory(parent)
        checkLeaf(hidden)
        precondition(!hidden.hasPrefix(TarEntryPath.whiteoutPrefix), "a whiteout of a whiteout")
    case .entry(let parent, let leaf):
        checkDirectory(parent)
        checkLeaf(leaf)
        precondition(!leaf.hasPrefix(TarEntryPath.whiteoutPrefix), "a whiteout taken for an entry")
    }
    return 0
}

/// A directory below the layer's root: relative, each component a real name.
func checkDirectory(_ path: String) {
    guard !path.isEmpty else { return }
    for part in path.split(separator: "/", omittingEmptySubsequences: false) { checkLeaf(String(part)) }
}

func checkLeaf(_ leaf: String) {
    precondition(!leaf.isEmpty && leaf != "." && leaf != ".." && !leaf.contains("/"), "bad component \(leaf.debugDescription)")
}
