import ArgumentParser
import Berth
import BerthKernel
import BerthSpec
import FoundationEssentials
import SystemPackage

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a container's output (its command's stdout and stderr), across rotated files.",
        discussion: """
            berth init keeps each line with its stream and the time it was written. Logs are rotated as the \
            container's `logging:` says (10Mi x 3 files by default); --previous shows the run before the current \
            one (after a restart or a replace).
            """)

    @Argument(help: "The container: NAME, or PROJECT/NAME when several projects have one of that name.")
    var name: String
    @Option(name: .shortAndLong, help: "The container's project.")
    var project: String?
    @Flag(name: .shortAndLong, help: "Keep printing what the container writes, until it stops or you press Ctrl-C.")
    var follow = false
    @Option(name: [.customShort("n"), .long], help: "Only the last N lines.")
    var tail: Int?
    @Option(help: "Only lines written since then: a duration back from now (10m, 1h30m) or an RFC 3339 time.")
    var since: String?
    @Flag(name: [.customShort("t"), .long], help: "Begin each line with the time it was written (RFC 3339, UTC).")
    var timestamps = false
    @Option(help: "Only stdout or only stderr.")
    var stream: LogStream?
    @Flag(help: "The run before the current one.")
    var previous = false
    @Option(help: "text, or json: one object a line with time, stream and line.")
    var output: OutputFormat = .text
    @OptionGroup var options: EngineOptions

    func validate() throws {
        if let tail, tail < 0 { throw ValidationError("--tail must be 0 or more") }
        if let since { _ = try Self.parseSince(since, now: Date()) }
    }

    func run() throws {
        let engine = try options.engine()
        let (project, name) = try engine.locate(name, project: project)
        let reader = LogReader(stateDir: engine.store.containerDirectory(project, name), previousRun: previous)
        guard reader.exists else {
            throw CLIError("\(project)/\(name) has no \(previous ? "previous run's " : "")log yet")
        }
        let filter = LogReader.Filter(stream: stream, since: try since.map { try Self.parseSince($0, now: Date()) })
        let out = FileDescriptor.standardOutput
        if follow && !previous {
            try reader.follow(filter, tail: tail, until: {
                let records = (try? engine.store.records(project)) ?? ProjectRecords()
                let seen = try? engine.observer.observe(project: project, records: records).containers[name]
                return seen?.isRunning != true
            }, emit: { line in try write([line], to: out) })
        } else {
            try write(try reader.lines(filter, tail: tail), to: out)
        }
    }

    func write(_ lines: [LogEntry], to out: FileDescriptor) throws {
        var bytes: [UInt8] = []
        for line in lines {
            bytes += Self.render(line, output: output, timestamps: timestamps)
            if bytes.count >= 1 << 16 {
                _ = try out.writeAll(bytes)
                bytes.removeAll(keepingCapacity: true)
            }
        }
        if !bytes.isEmpty { _ = try out.writeAll(bytes) }
    }

    static func render(_ line: LogEntry, output: OutputFormat, timestamps: Bool) -> [UInt8] {
        switch output {
        case .json:
            let object = "{\"time\": \(JSON.string(line.time.rfc3339)), \"stream\": \(JSON.string(line.stream.rawValue)), "
                + "\"line\": \(JSON.string(line.text))\(line.complete ? "" : ", \"partial\": true")}\n"
            return Array(object.utf8)
        case .text:
            var bytes: [UInt8] = timestamps ? Array((line.time.rfc3339 + " ").utf8) : []
            bytes += line.content
            if line.complete { bytes.append(UInt8(ascii: "\n")) }
            return bytes
        }
    }

    /// `10m`, `1h30m` (back from now) or an RFC 3339 time such as `2026-12-01T20:00:00Z`.
    static func parseSince(_ text: String, now: Date) throws -> LogTime {
        if let span = try? TimeSpan(parsing: text) {
            return LogTime(now.timeIntervalSince1970 - Double(span.milliseconds) / 1000)
        }
        for style in [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()] {
            if let date = try? style.parse(text) { return LogTime(date.timeIntervalSince1970) }
        }
        throw ValidationError("--since \(text): neither a duration such as 10m nor an RFC 3339 time such as 2026-12-01T20:00:00Z")
    }
}

extension LogStream: ExpressibleByArgument {}
