import BerthKernel
import Foundation
import Glibc
import Testing

@Suite("Logs: berth init's relay, rotation, reading", .enabled(if: geteuid() == 0, "needs root"))
struct LogRelayTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    /// The log files of the current run and their sizes.
    func files(_ state: String) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: state) where name.hasPrefix("container.log") {
            // A file may be renamed away while we look (a rotation): it is counted under its new name.
            guard let size = (try? FileManager.default.attributesOfItem(atPath: state + "/" + name))?[.size] as? Int
            else { continue }
            out[name] = size
        }
        return out
    }

    @Test func eachLineKeepsItsStreamAndTime() throws {
        let sandbox = try ContainerSandbox("log-lines")
        defer { sandbox.cleanup() }
        let before = LogTime.now()
        let state = try sandbox.stateDir()
        let id = try sandbox.start(sandbox.config(["/bin/sh", "-c", "echo out; echo err >&2; echo; printf 'no end'"]),
                                   stateDir: state)
        try sandbox.waitForExit(id)
        let after = LogTime.now()
        let lines = try LogReader(stateDir: state).lines()
        // Two pipes: the order within a stream is kept, not across streams written at once.
        let out = lines.filter { $0.stream == .stdout }, err = lines.filter { $0.stream == .stderr }
        #expect(out.map(\.text) == ["out", "", "no end"])
        #expect(out.map(\.complete) == [true, true, false])
        #expect(err.map(\.text) == ["err"] && err.first?.complete == true)
        for line in lines { #expect(line.time >= before && line.time <= after, "\(line.time.rfc3339)") }
        // On disk: the CRI format, one entry a line.
        let raw = try String(contentsOfFile: ContainerRuntime.logPath(stateDir: state), encoding: .utf8)
        let first = try #require(raw.split(separator: "\n").first)
        #expect(first.hasSuffix(" stdout F out"), "\(raw)")
        #expect(first.count == 30 + " stdout F out".count)
    }

    @Test func aLongLineIsKeptWhole() throws {
        let sandbox = try ContainerSandbox("log-long-line")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        // 100000 bytes without a newline, then one: written in pieces, read back as one line.
        let id = try sandbox.start(sandbox.config(["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo; echo next"]),
                                   stateDir: state)
        try sandbox.waitForExit(id)
        let lines = try LogReader(stateDir: state).lines()
        #expect(lines.map(\.content.count) == [100_000, 4])
        #expect(lines.first?.content.allSatisfy { $0 == UInt8(ascii: "x") } == true)
        let raw = try String(contentsOfFile: ContainerRuntime.logPath(stateDir: state), encoding: .utf8)
        #expect(raw.split(separator: "\n").count > 2, "the line was not written in pieces")
    }

    /// Lines of every length around a piece (16 KiB) and a page, each written in chunks
    /// with its newline apart (held starts joined to their ends), then many short lines
    /// (more entries in a read than one writev takes): all read back whole, in order.
    @Test func linesOfEveryLengthComeThroughWhole() throws {
        let sandbox = try ContainerSandbox("log-lengths")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        let lengths = [0, 1, 127, 128, 4095, 4096, 16383, 16384, 16385, 32768, 40000, 65536, 70001, 2]
        let script = lengths.map { "head -c \($0) /dev/zero | tr '\\0' x; echo" }.joined(separator: "; ")
            + "; seq 1 50000; printf 'no end'"
        let id = try sandbox.start(sandbox.config(["/bin/sh", "-c", script]), stateDir: state)
        try sandbox.waitForExit(id)
        let lines = try LogReader(stateDir: state).lines()
        #expect(lines.prefix(lengths.count).map(\.content.count) == lengths)
        #expect(lines.prefix(lengths.count).allSatisfy { $0.complete && $0.content.allSatisfy { $0 == UInt8(ascii: "x") } })
        #expect(lines.dropFirst(lengths.count).dropLast().map(\.text) == (1...50000).map(String.init))
        #expect(lines.last?.text == "no end" && lines.last?.complete == false)
    }

    /// 100 MiB as fast as the command can write: the relay keeps up, rotation keeps
    /// at most maxFiles x maxSize on disk, and what is kept is the newest output, whole.
    @Test func rotationBoundsTheLogWhileAFastWriterWrites100MiB() throws {
        let sandbox = try ContainerSandbox("log-rotation")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/sh", "-c", "seq 1 13000000 | head -c 104857600; echo; echo done"])
        config.logging = LogRotation(maxSize: 1 << 20, maxFiles: 3)
        let id = try sandbox.start(config, stateDir: state)
        var largest = 0
        var most = 0
        // While it writes: never more than the bound.
        while id.isAlive {
            let now = try files(state)
            largest = max(largest, now.values.reduce(0, +))
            most = max(most, now.count)
            usleep(1000)
        }
        let exit = ContainerRuntime.readExitRecord(stateDir: state)
        #expect(exit?.status == .exited(0))
        let final = try files(state)
        #expect(Set(final.keys) == ["container.log", "container.log.1", "container.log.2"])
        #expect(final.values.allSatisfy { $0 <= 1 << 20 }, "\(final)")
        #expect(largest <= 3 << 20 && most <= 3, "\(largest) bytes in \(most) files")
        let lines = try LogReader(stateDir: state).lines()
        #expect(lines.last?.text == "done")
        // What is kept runs without a gap up to where head cut the output.
        let numbers = lines.dropLast(2).dropFirst().compactMap { Int($0.text) }
        #expect(numbers.count == lines.count - 3)
        #expect(zip(numbers, numbers.dropFirst()).allSatisfy { $1 == $0 + 1 })
        // 3 MiB of entries of 8 digits and 40 bytes of time and stream each.
        #expect(numbers.count > 50_000, "\(numbers.count) lines kept")
        #expect(!lines.contains { $0.text.contains("dropped") })
    }

    /// A full disk: the command is never blocked, lines are dropped and counted, and
    /// the log says so once there is room again.
    @Test func aFullDiskDropsLinesWithACountedMarker() throws {
        let sandbox = try ContainerSandbox("log-disk-full")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        try #require(mount("tmpfs", state, "tmpfs", 0, "size=256k") == 0, "mount tmpfs: \(errno)")
        defer { umount2(state, Int32(MNT_DETACH)) }
        let filler = state + "/filler"
        // Leave a few KiB free.
        let fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        var chunk = [UInt8](repeating: 1, count: 4096)
        while write(fd, &chunk, chunk.count) == 4096 {}
        close(fd)
        truncate(filler, off_t((try FileManager.default.attributesOfItem(atPath: filler)[.size] as? Int ?? 0) - 16384))

        var config = sandbox.config(["/bin/sh", "-c",
            "seq 1 100000; touch /tmp/written; while [ ! -e /tmp/go ]; do usleep 10000; done; echo after"])
        config.logging = .unbounded
        let id = try sandbox.start(config, stateDir: state)
        #expect(poll(timeout: .seconds(20)) { access(sandbox.rootfs + "/tmp/written", F_OK) == 0 },
                "the command was blocked by the full disk")
        // Room again only once the relay has taken everything: its pipes are empty and it waits in poll(2).
        #expect(poll(timeout: .seconds(20)) { Self.relayIsIdle(id.pid) })
        unlink(filler)
        close(open(sandbox.rootfs + "/tmp/go", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644))
        try sandbox.waitForExit(id)
        #expect(ContainerRuntime.readExitRecord(stateDir: state)?.status == .exited(0))
        let lines = try LogReader(stateDir: state).lines()
        let markers = lines.filter { $0.text.hasPrefix("berth init: dropped ") }
        try #require(!markers.isEmpty, "\(lines.suffix(3))")
        for marker in markers {
            #expect(marker.stream == .stderr)
            #expect(marker.text.hasSuffix("No space left on device"), "\(marker.text)")
        }
        let sizes = try files(state)
        #expect(lines.last?.text == "after", "\(sizes) \(markers.map(\.text)) \(lines.suffix(4).map(\.text)) \(lines.prefix(3).map(\.text))")
        // The lines that were kept, plus those the markers count, are all that was written.
        let kept = lines.filter { Int($0.text) != nil }.count
        let dropped = markers.map { Int($0.text.split(separator: " ")[3]) ?? 0 }.reduce(0, +)
        #expect(dropped > 0)
        #expect(kept + dropped == 100_000, "\(kept) kept, \(dropped) dropped")
    }

    /// berth init blocked in poll(2) with nothing queued in the pipes it reads.
    static func relayIsIdle(_ pid: Int32) -> Bool {
        guard let syscall = try? String(contentsOfFile: "/proc/\(pid)/syscall", encoding: .utf8),
              ["7", "271"].contains(syscall.split(separator: " ").first ?? "") else { return false } // poll, ppoll (x86_64)
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        for fd in fds {
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                  link.hasPrefix("pipe:") else { continue }
            let copy = open("/proc/\(pid)/fd/\(fd)", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            guard copy >= 0 else { return false }
            defer { close(copy) }
            var queued: Int32 = 0
            guard ioctl(copy, UInt(FIONREAD), &queued) == 0, queued == 0 else { return false }
        }
        return true
    }

    @Test func followReadsAcrossRotationsAndToTheLastLine() throws {
        let sandbox = try ContainerSandbox("log-follow-rotation")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/sh", "-c",
            "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo $i; [ $((i % 50)) = 0 ] && usleep 5000; done; echo last"])
        config.logging = LogRotation(maxSize: 4096, maxFiles: 20)
        let id = try sandbox.start(config, stateDir: state)
        var seen: [String] = []
        try LogReader(stateDir: state).follow(interval: .milliseconds(50), until: { !id.isAlive }) { seen.append($0.text) }
        let expected = (1...3000).map(String.init) + ["last"]
        let first = Array(zip(seen, expected)).firstIndex { $0 != $1 } ?? min(seen.count, expected.count)
        #expect(seen == expected, "\(seen.count) lines; from line \(first): \(seen.dropFirst(first).prefix(5))")
        #expect(try files(state).count == 20)
    }

    /// berth init keeps no privilege once the command runs: rotating must still work,
    /// also as a user namespace's root and with a non-root command.
    @Test(arguments: [false, true])
    func rotationWorksWithoutPrivileges(userNamespace: Bool) throws {
        let sandbox = try ContainerSandbox("log-rotation-unprivileged-\(userNamespace)")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/sh", "-c", "seq 1 20000; echo done"])
        config.uid = 1000
        config.gid = 1000
        if userNamespace {
            config.namespaces.insert(.user)
            config.uidMap = testUserMap
            config.gidMap = testUserMap
        }
        config.logging = LogRotation(maxSize: 16 << 10, maxFiles: 2)
        let id = try sandbox.start(config, stateDir: state)
        try sandbox.waitForExit(id)
        #expect(Set(try files(state).keys) == ["container.log", "container.log.1"])
        let lines = try LogReader(stateDir: state).lines()
        #expect(lines.last?.text == "done")
        #expect(!lines.contains { $0.text.hasPrefix("berth init") }, "\(lines.filter { $0.text.hasPrefix("berth init") })")
    }

    @Test func tailAndSinceWorkAcrossRotatedFiles() throws {
        let sandbox = try ContainerSandbox("log-tail-since")
        defer { sandbox.cleanup() }
        let state = try sandbox.stateDir()
        var config = sandbox.config(["/bin/sh", "-c",
            "for i in $(seq 1 400); do echo a$i; done; while [ ! -e /tmp/go ]; do usleep 10000; done; "
            + "for i in $(seq 1 400); do echo b$i; done"])
        config.logging = LogRotation(maxSize: 4096, maxFiles: 10)
        let id = try sandbox.start(config, stateDir: state)
        let reader = LogReader(stateDir: state)
        #expect(poll(timeout: .seconds(10)) { (try? reader.lines(tail: 1).first?.text) == "a400" })
        let between = LogTime.now()
        close(open(sandbox.rootfs + "/tmp/go", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644))
        try sandbox.waitForExit(id)
        #expect(try files(state).count > 2, "the test needs rotated files")
        let all = try reader.lines()
        #expect(all.map(\.text) == (1...400).map { "a\($0)" } + (1...400).map { "b\($0)" })
        #expect(try reader.lines(tail: 5).map(\.text) == (396...400).map { "b\($0)" })
        #expect(try reader.lines(LogReader.Filter(since: between)).map(\.text) == (1...400).map { "b\($0)" })
        #expect(try reader.lines(LogReader.Filter(since: between), tail: 2).map(\.text) == ["b399", "b400"])
    }
}
