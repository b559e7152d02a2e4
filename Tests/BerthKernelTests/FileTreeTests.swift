import BerthKernel
import Foundation
import Glibc
import Testing

/// FileTree's walk (image sizes, volume usage, the dead writers' temp files): every entry
/// once, parents first, symbolic links reported and never followed, and a directory left
/// out when asked.
@Suite("FileTree")
struct FileTreeTests {
    @Test func walksEveryEntryWithoutFollowingLinks() throws {
        let base = NSTemporaryDirectory() + "berth-tree-\(UInt32.random(in: 0...UInt32.max))"
        let root = base + "/root", outside = base + "/outside"
        defer { try? FileManager.default.removeItem(atPath: base) }
        for dir in [root + "/a/b", root + "/skip/deep", outside] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try Data(repeating: 7, count: 10_000).write(to: URL(fileURLWithPath: root + "/a/b/file"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/skip/deep/inner"))
        try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/not-mine"))
        #expect(symlink(outside, root + "/a/link") == 0)

        var seen: [String: stat] = [:], order: [String] = []
        FileTree.walk(root) { path, st in
            seen[path] = st
            order.append(path)
        }
        #expect(Set(order) == ["a", "a/b", "a/b/file", "a/link", "skip", "skip/deep", "skip/deep/inner"])
        #expect(order.count == seen.count, "an entry reported twice: \(order)")
        #expect(order.firstIndex(of: "a")! < order.firstIndex(of: "a/b")! && order.firstIndex(of: "a/b")! < order.firstIndex(of: "a/b/file")!)
        #expect(seen["a/link"]!.st_mode & S_IFMT == S_IFLNK)
        #expect(seen["a/b/file"]!.st_size == 10_000)

        var kept: [String] = []
        FileTree.walk(root, descend: { $0 != "skip" }) { path, _ in kept.append(path) }
        #expect(Set(kept) == ["a", "a/b", "a/b/file", "a/link", "skip"])

        var none = 0
        FileTree.walk(base + "/nowhere") { _, _ in none += 1 }
        #expect(none == 0)
    }
}
