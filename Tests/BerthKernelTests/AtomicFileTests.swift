import BerthKernel
import Foundation
import Glibc
import Testing

/// The one atomic-file writer: the target is the old file or the new one, whole; no temp
/// file is left by a write that succeeded or failed; and only a dead writer's temp file is
/// taken for a crash's leftover.
@Suite("AtomicFile")
struct AtomicFileTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "berth-atomic-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func entries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    @Test func writesAndReplacesWholeLeavingNoTemp() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/record.json"
        try AtomicFile.write(Array("first".utf8), to: path)
        try AtomicFile.write(Array("second, longer".utf8), to: path, mode: 0o644)
        #expect(FileManager.default.contents(atPath: path) == Data("second, longer".utf8))
        #expect(entries() == ["record.json"])

        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o700 == 0o600 && st.st_mode & 0o111 == 0)
        // The default is private to its owner, whatever the umask lets through.
        try AtomicFile.write(Array("x".utf8), to: dir + "/private")
        #expect(stat(dir + "/private", &st) == 0 && st.st_mode & 0o077 == 0)
    }

    @Test func aFailedWriteSaysWhereAndLeavesNothing() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A directory where the file should be: the rename fails, the temp file goes.
        try FileManager.default.createDirectory(atPath: dir + "/taken", withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: dir + "/taken/x", contents: nil)
        #expect(throws: KernelError.self) { try AtomicFile.write(Array("x".utf8), to: dir + "/taken") }
        #expect(entries() == ["taken"])
        do {
            try AtomicFile.write(Array("x".utf8), to: dir + "/missing/file")
            Issue.record("a write into a missing directory succeeded")
        } catch {
            #expect(error.errno == .noSuchFileOrDirectory && error.object.hasPrefix(dir + "/missing/"), "\(error)")
        }
    }

    @Test func onlyADeadWritersTempIsALeftover() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let leftover = AtomicFile.temporaryName(for: "record.json", pid: dead.processIdentifier)
        #expect(leftover == ".record.json.\(dead.processIdentifier).tmp")
        #expect(AtomicFile.writer(ofTemporary: leftover) == dead.processIdentifier)
        #expect(AtomicFile.isLeftOfDeadWriter(leftover))
        #expect(!AtomicFile.isLeftOfDeadWriter(AtomicFile.temporaryName(for: "record.json")), "this process's own")
        #expect(!AtomicFile.isLeftOfDeadWriter(AtomicFile.temporaryName(for: "record.json", pid: getppid())), "a live one's")
        #expect(AtomicFile.writer(ofTemporary: "record.json") == nil && AtomicFile.writer(ofTemporary: ".x.tmp") == nil)
    }

    /// Not durable (health.json, rewritten at every check): readers see each version whole,
    /// a shorter version after a longer one has no tail of it, and the file replaced stays
    /// as the writer's temp file: two files take turns, no inode is made per write. A
    /// durable write after it leaves no temp file.
    @Test func aNonDurableRewriteTakesTurnsWithItsTempFile() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/health.json"
        let temp = AtomicFile.temporaryName(for: "health.json")
        func inode(_ p: String) -> ino_t? {
            var st = stat()
            return stat(p, &st) == 0 ? st.st_ino : nil
        }
        try AtomicFile.write(Array("the first, long version".utf8), to: path, durable: false)
        #expect(entries() == ["health.json"], "the first write renames: nothing to exchange with")
        var seen = Set<ino_t>()
        for text in ["second", "a third, longer one", "4"] {
            try AtomicFile.write(Array(text.utf8), to: path, durable: false)
            #expect(FileManager.default.contents(atPath: path) == Data(text.utf8))
            #expect(entries() == [temp, "health.json"].sorted())
            seen.formUnion([inode(path), inode(dir + "/" + temp)].compactMap { $0 })
        }
        #expect(seen.count == 2, "\(seen.count) inodes for four writes")
        #expect(AtomicFile.isLeftOfDeadWriter(temp) == false, "the live writer's")
        try AtomicFile.write(Array("durable".utf8), to: path)
        #expect(FileManager.default.contents(atPath: path) == Data("durable".utf8))
        #expect(entries() == ["health.json"])
    }
}
