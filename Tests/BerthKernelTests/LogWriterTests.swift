@testable import BerthInit
import BerthKernel
import Foundation
import Glibc
import Testing

/// berth init's log writer on its own: entries queued as vectors, written with writev(2)
/// in batches, rotated, and dropped whole on a full disk.
@Suite("Logs: the writer's batches")
struct LogWriterTests {
    /// A directory with an open `container.log`, removed at the end.
    final class LogDirectory {
        let path: String
        let dir: Int32
        private(set) var fd: Int32

        init(_ name: String) throws {
            path = "/tmp/berth-logwriter-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            fd = -1
        }

        func openLog() -> Int32 {
            fd = openat(dir, LogFiles.current, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            return fd
        }

        func size(_ name: String) -> Int {
            var st = stat()
            return stat(path + "/" + name, &st) == 0 ? Int(st.st_size) : -1
        }

        func remove() {
            close(dir)
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// `count` lines `prefix<n>\n` side by side, as a read from the pipe holds them.
    static func chunk(_ count: Int, prefix: String = "line ") -> (bytes: [UInt8], lines: [Range<Int>]) {
        var bytes: [UInt8] = []
        var lines: [Range<Int>] = []
        for n in 0..<count {
            let start = bytes.count
            bytes += Array("\(prefix)\(n)\n".utf8)
            lines.append(start..<bytes.count)
        }
        return (bytes, lines)
    }

    static var nothing: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    /// More entries than one writev(2) takes (1,024 vectors), pieces of two places with the
    /// newline added among them: all on disk, whole, in order, each with its own header.
    @Test func entriesSplitAcrossWritevBatchesStayWholeAndInOrder() throws {
        let log = try LogDirectory("batches")
        defer { log.remove() }
        var writer = LogWriter(dir: log.dir, fd: log.openLog(), rotation: .unbounded)
        let (bytes, lines) = Self.chunk(3000)
        let held = Array("held start, ".utf8)
        let time = LogTime(seconds: 1_800_000_000, nanoseconds: 123_456_789)
        writer.stamp(time)
        var expected: [(LogStream, String, Bool)] = []
        bytes.withUnsafeBytes { buffer in
            held.withUnsafeBytes { held in
                for (n, line) in lines.enumerated() {
                    let stream: LogStream = n % 3 == 0 ? .stderr : .stdout
                    let text = String(decoding: bytes[line.lowerBound..<(line.upperBound - 1)], as: UTF8.self)
                    if n % 100 == 7 {
                        // A line whose start was held from an earlier read.
                        writer.append(stream: stream, complete: true, held, UnsafeRawBufferPointer(rebasing: buffer[line]),
                                      newline: false)
                        expected.append((stream, "held start, " + text, true))
                    } else if n % 100 == 8 {
                        // A piece of a longer line: no newline of its own in the buffer.
                        writer.append(stream: stream, complete: false,
                                      UnsafeRawBufferPointer(rebasing: buffer[line.lowerBound..<(line.upperBound - 1)]),
                                      Self.nothing, newline: true)
                        expected.append((stream, text, false))
                    } else {
                        writer.append(stream: stream, complete: true, UnsafeRawBufferPointer(rebasing: buffer[line]),
                                      Self.nothing, newline: false)
                        expected.append((stream, text, true))
                    }
                }
            }
            writer.flush()
        }
        #expect(writer.droppedTotal == 0)
        let raw = try Data(contentsOf: URL(fileURLWithPath: log.path + "/" + LogFiles.current))
        let rawLines = raw.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        #expect(rawLines.count == 3000)
        let entries = rawLines.map { LogEntry(line: ArraySlice($0)) }
        #expect(entries.allSatisfy { $0 != nil })
        for (entry, want) in zip(entries.compactMap { $0 }, expected) {
            #expect(entry.stream == want.0 && entry.text == want.1 && entry.complete == want.2, "\(entry) \(want)")
            #expect(entry.time == time)
        }
        let content = expected.reduce(0) { $0 + $1.1.utf8.count }
        #expect(raw.count == content + 3000 * (LogEntry.headerWidth + 1))
    }

    /// Each file stays within maxSize, an entry's newline counted (entries of 241 bytes:
    /// after 16 of them 240 bytes are left, one short of the 17th), the renames leave
    /// maxFiles files, and what is kept runs without a gap to the last entry.
    @Test func rotationKeepsEachFileWithinItsSize() throws {
        let log = try LogDirectory("rotation")
        defer { log.remove() }
        var writer = LogWriter(dir: log.dir, fd: log.openLog(), rotation: LogRotation(maxSize: 4096, maxFiles: 3))
        let lines = (0..<500).map { n in
            Array((String(repeating: "0", count: 200 - String(n).count) + String(n) + "\n").utf8)
        }
        for line in lines {
            writer.stamp(LogTime.now())
            line.withUnsafeBytes { writer.append(stream: .stdout, complete: true, $0, Self.nothing, newline: false) }
            // The bytes of an entry stay where they are until the flush: here, every entry.
            writer.flush()
        }
        for name in [LogFiles.current, LogFiles.name(LogFiles.current, 1), LogFiles.name(LogFiles.current, 2)] {
            #expect(log.size(name) > 0 && log.size(name) <= 4096, "\(name): \(log.size(name)) bytes")
        }
        #expect(log.size(LogFiles.name(LogFiles.current, 1)) == 16 * 241)
        #expect(log.size(LogFiles.name(LogFiles.current, 3)) == -1)
        let kept = try LogReader(stateDir: log.path).lines().compactMap { Int($0.text) }
        #expect(kept.count > 2 * 16)
        #expect(kept.last == 499 && zip(kept, kept.dropFirst()).allSatisfy { $1 == $0 + 1 })
        close(writer.currentFD)
    }

    /// A full disk in the middle of a batch: the file holds whole entries only, the rest is
    /// counted, and the first write with room again starts with a marker that says so.
    @Test(.enabled(if: geteuid() == 0, "needs root (mounts a tmpfs)"))
    func aFullDiskKeepsWholeEntriesOfABatch() throws {
        let log = try LogDirectory("disk-full")
        defer { log.remove() }
        try #require(mount("tmpfs", log.path, "tmpfs", 0, "size=64k") == 0, "mount tmpfs: \(errno)")
        defer { umount2(log.path, Int32(MNT_DETACH)) }
        // The directory fd was opened before the mount: the writer must see the tmpfs.
        let dir = open(log.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(dir) }
        let filler = log.path + "/filler"
        let fillerFD = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        var page = [UInt8](repeating: 1, count: 4096)
        while write(fillerFD, &page, page.count) == 4096 {}
        close(fillerFD)
        // Two pages free: about 8 KiB of a 100 KiB batch fits.
        truncate(filler, off_t(log.size("filler") - 8192))
        let fd = openat(dir, LogFiles.current, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        var writer = LogWriter(dir: dir, fd: fd, rotation: .unbounded)
        let (bytes, lines) = Self.chunk(1000, prefix: String(repeating: "x", count: 60) + " ")
        writer.stamp(LogTime.now())
        bytes.withUnsafeBytes { buffer in
            for line in lines {
                writer.append(stream: .stdout, complete: true, UnsafeRawBufferPointer(rebasing: buffer[line]), Self.nothing,
                              newline: false)
            }
            writer.flush()
        }
        let kept = try LogReader(stateDir: log.path).lines()
        #expect(writer.dropped.lines > 0 && writer.dropped.errno == ENOSPC)
        #expect(kept.count + writer.dropped.lines == 1000, "\(kept.count) kept, \(writer.dropped.lines) dropped")
        #expect(zip(kept, lines.indices).allSatisfy { $0.complete && $0.text.hasSuffix(" \($1)") })
        // What is on disk is whole entries: nothing after the last newline.
        #expect(log.size(LogFiles.current) == kept.reduce(0) { $0 + $1.content.count + LogEntry.overhead })
        let lost = writer.dropped.lines
        let lostBytes = lines.suffix(lost).reduce(0) { $0 + $1.count + LogEntry.headerWidth }
        #expect(writer.dropped.bytes == lostBytes)

        unlink(filler)
        let after = Array("after\n".utf8)
        writer.stamp(LogTime.now())
        after.withUnsafeBytes { writer.append(stream: .stdout, complete: true, $0, Self.nothing, newline: false) }
        writer.flush()
        let now = try LogReader(stateDir: log.path).lines()
        #expect(now.suffix(2).map(\.text) == ["berth init: dropped \(lost) log lines (\(lostBytes) bytes): No space left on device",
                                              "after"])
        #expect(now.suffix(2).first?.stream == .stderr)
        #expect(writer.dropped.lines == 0 && writer.droppedTotal == lost)
        close(writer.currentFD)
    }
}
