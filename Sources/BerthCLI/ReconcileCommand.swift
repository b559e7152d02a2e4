import ArgumentParser
import Berth
import BerthKernel
import FoundationEssentials
import Glibc
import Logging

struct ReconcileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Keep the host matching the spec: observe, plan and apply every interval, until SIGTERM or SIGINT.",
        discussion: """
        Wakes at once when a container's process exits, when anyone writes a file of a container's \
        cgroup, or when the spec file changes; every interval it also checks what has no event \
        (hostnames; networks), and it reads everything afresh at least once a minute. Restarts follow \
        each container's restart policy with exponential backoff (10s doubling to 5m, reset after \
        10m of running). The project's lock is held only while applying. Each change is logged as \
        one line on standard error. SIGHUP re-reads the spec; SIGTERM and SIGINT stop it after the \
        step in progress, and the containers keep running. Under systemd (Type=notify) it sends \
        READY=1 after its first pass and WATCHDOG=1 when WatchdogSec is set.
        """)

    enum LogFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var spec: SpecFileOption
    @OptionGroup var options: EngineOptions
    @Option(help: ArgumentHelp("Time between passes.", valueName: "duration"))
    var interval: String = "10s"
    @Option(help: "One line per change: text (key=value) or json.")
    var logFormat: LogFormat = .text
    // operations
    @Option(help: ArgumentHelp(
        "Serve Prometheus metrics at http://ADDRESS/metrics: per container CPU, memory, pids, restarts, OOM kills, health, up; the reconciler's passes, repairs, errors and pass durations. `:9488` listens on 127.0.0.1 only; any other host is used as written.",
        valueName: "host:port"))
    var metricsAddress: String?

    func run() throws {
        let every = try seconds(interval, option: "--interval")
        var address: MetricsAddress?
        if let metricsAddress {
            do { address = try MetricsAddress(parsing: metricsAddress) } catch { throw ValidationError(error.description) }
        }
        guard every > 0 else { throw ValidationError("--interval must be longer than 0s") }
        let loaded = try spec.load()
        let format = logFormat
        var logger = Logger(label: "berth.reconcile") { label in
            LineLogHandler(label: label, json: format == .json)
        }
        logger.logLevel = .info
        let engine = try options.engine()
        let reconciler = Reconciler(engine: engine, specPath: spec.file, spec: loaded,
                                    interval: every, logger: logger)
        var server: MetricsServer?
        if let address {
            let metrics = ReconcileMetrics(project: loaded.project)
            reconciler.metrics = metrics
            do {
                server = try MetricsServer(address: address) { metrics.render(engine: engine) }
            } catch {
                throw CLIError("--metrics-address \(address): cannot listen: \(error)")
            }
            logger.info("serving metrics", metadata: ["address": "http://\(server!.boundAddress)/metrics"])
        }
        defer { server?.close() }
        do {
            try reconciler.run()
        } catch let error as StateError {
            throw CLIError(error.description)
        }
    }
}

/// One line per log event, on standard error: `key=value` text or a JSON object.
struct LineLogHandler: LogHandler {
    let label: String
    let json: Bool
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("time", Self.timestamp()), ("level", event.level.rawValue), ("msg", event.message.description),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
        let line: String
        if json {
            var object: [String: String] = [:]
            for (k, v) in fields { object[k] = v }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            line = (try? String(decoding: encoder.encode(object), as: UTF8.self)) ?? "{}"
        } else {
            line = fields.map { "\($0.0)=\(Self.quote($0.1))" }.joined(separator: " ")
        }
        Console.err(line)
    }

    static func quote(_ s: String) -> String {
        if !s.isEmpty, !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) { return s }
        return "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
            .replacing("\n", with: "\\n") + "\""
    }

    static func timestamp() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        var t = tv.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        return Printf.string("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, Int32(tv.tv_usec / 1000))
    }
}
