import Testing
@testable import BerthKernel

/// The names of a layer's tar entries, as extraction reads them (the pure half; the
/// openat2 resolver enforces the rest). The refused ones include what `make fuzz` found.
@Suite struct TarEntryPathTests {
    @Test(arguments: [
        ("./", TarEntryPath.root), (".", .root),
        ("./a//b/", .entry(parent: "a", leaf: "b")), ("bin/busybox", .entry(parent: "bin", leaf: "busybox")),
        ("usr/.wh..wh..opq", .opaque(directory: "usr")), ("data/.wh.old", .whiteout(parent: "data", hidden: "old")),
        (".wh..wh.plnk", .bookkeeping(parent: "")), (".wh.", .bookkeeping(parent: "")),
    ])
    func namesAreWhatExtractionMakesOfThem(name: String, expected: TarEntryPath) {
        #expect(TarEntryPath(name) == expected)
    }

    /// `.wh..` and `.wh...` were found by the tar-entry-path fuzz target: a whiteout of the
    /// directory itself or of its parent. They are hostile names, refused like `..`.
    @Test(arguments: ["/etc/shadow", "../escape", "a/../../b", ".wh..", "usr/.wh...", "a/.wh../"])
    func hostileNamesAreRefused(name: String) {
        #expect(TarEntryPath(name) == nil)
    }
}
