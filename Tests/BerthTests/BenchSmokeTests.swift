import Foundation
import Testing

/// `make bench QUICK=1` in the test suite, so that the benchmark harness cannot
/// silently rot: bench/run.sh --quick with the debug binaries built next to the
/// tests, into a temporary directory. It checks that every row of issue 7 was
/// measured, with its peer where it has one, and that the harness left nothing
/// behind. It never looks at how fast anything was.
@Suite("BenchSmoke", .enabled(if: geteuid() == 0, "needs root"))
struct BenchSmokeTests {
    /// The rows of bench/bench.py (`ROW_IDS`), one per figure of issue 7.
    static let rows = [
        "start", "start.runtime", "start.seccomp", "attach",
        "scale.apply.plain.small", "scale.apply.plain.medium", "scale.apply.plain.large",
        "scale.apply.net.small", "scale.apply.net.medium", "scale.apply.net.large",
        "scale.destroy.plain.small", "scale.destroy.plain.medium", "scale.destroy.plain.large",
        "scale.destroy.net.small", "scale.destroy.net.medium", "scale.destroy.net.large",
        "scale.network-share", "plan.noop", "reconciler.cpu", "reconciler.rss", "restart",
        "overhead.per-container", "validate", "validate.rss", "version",
        "thousand.apply", "thousand.plan", "thousand.reconciler.cpu", "thousand.destroy",
        // issue 13's LAN attach and published port, issue 14's healthchecks and log throughput
        "lan.attach", "lan.attach.probed", "ports.publish", "health.cpu", "health.latency",
        "logs.throughput", "logs.lines", "logs.line-writes",
    ]
    /// Rows measured side by side with a peer (the others are held to a goal only).
    static let rowsWithPeer = Set<String>([
        "start", "start.runtime", "start.seccomp", "attach", "plan.noop", "overhead.per-container", "validate", "validate.rss",
        "version", "lan.attach", "lan.attach.probed", "ports.publish", "health.latency", "logs.throughput", "logs.lines",
        "logs.line-writes",
    ]).union(rows.filter { $0.hasPrefix("scale.apply") || $0.hasPrefix("scale.destroy") })

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// What a command prints (its standard output), for the checks above.
    static func output(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test(.timeLimit(.minutes(20)))
    func quickRunRecordsEveryRow() throws {
        signal(SIGPIPE, SIG_IGN)
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let berth = bin.appendingPathComponent("berth").path
        let tool = bin.appendingPathComponent("berth-bench").path
        try #require(FileManager.default.isExecutableFile(atPath: berth), "no berth at \(berth): swift build first")
        try #require(FileManager.default.isExecutableFile(atPath: tool), "no berth-bench at \(tool): swift build first")
        let out = FileManager.default.temporaryDirectory
            .appendingPathComponent("berth-bench-smoke-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: out) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.repository + "/bench/run.sh", "--quick", "--out", out]
        process.currentDirectoryURL = URL(fileURLWithPath: Self.repository)
        var environment = ProcessInfo.processInfo.environment
        environment["BERTH"] = berth
        environment["BERTH_BENCH"] = tool
        process.environment = environment
        let log = out + ".log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? logHandle.close() }
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Generous: a quick run takes well under a minute on an idle machine.
        let deadline = Date().addingTimeInterval(15 * 60)
        while process.isRunning, Date() < deadline { usleep(100_000) }
        if process.isRunning {
            // SIGTERM lets the harness clean up; then give up on it.
            process.terminate()
            let grace = Date().addingTimeInterval(120)
            while process.isRunning, Date() < grace { usleep(100_000) }
            Issue.record("bench/run.sh --quick did not finish in 15 minutes")
            return
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "bench/run.sh --quick failed:\n\(output.suffix(4000))")

        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/latest.json"))
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(doc["quick"] as? Bool == true)
        #expect(doc["failure"] is NSNull, "the run stopped early: \(doc["failure"] ?? "")")
        #expect((doc["cleanup_problems"] as? [Any])?.isEmpty == true, "cleanup: \(doc["cleanup_problems"] ?? "")")
        let rows = (doc["rows"] as? [[String: Any]]) ?? []
        let byID = Dictionary(rows.compactMap { row in (row["id"] as? String).map { ($0, row) } },
                              uniquingKeysWith: { first, _ in first })
        let markdown = try String(contentsOfFile: out + "/latest.md", encoding: .utf8)
        // The scale rows' chart (bench/chart.py): a PNG beside the table.
        let png = (try? Data(contentsOf: URL(fileURLWithPath: out + "/latest.png"))) ?? Data()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "no chart at \(out)/latest.png")
        for id in Self.rows {
            guard let row = byID[id] else {
                Issue.record("row \(id) is missing from latest.json")
                continue
            }
            let berth = row["berth"] as? [String: Any]
            #expect(berth?["median"] is NSNumber, "row \(id): no figure for berth")
            if Self.rowsWithPeer.contains(id) {
                let peer = row["peer"] as? [String: Any]
                #expect(peer?["median"] is NSNumber || row["peer_error"] is String, "row \(id): no peer figure")
                #expect(row["ratio"] is NSNumber || row["peer_error"] is String || id == "overhead.per-container",
                        "row \(id): no ratio")
            }
            if let label = row["label"] as? String {
                #expect(markdown.contains("| \(label) |"), "row \(id) is not in latest.md")
            }
        }
        // crun is recorded either with a figure or with the reason it refused.
        let start = byID["start"]
        #expect(start?["crun"] is [String: Any] || start?["crun_error"] is String)

        // Nothing left behind: the work directory, the bridges, the cgroups.
        let work = try #require(doc["work"] as? String)
        #expect(!FileManager.default.fileExists(atPath: work), "\(work) was left behind")
        for bridge in (doc["bridges"] as? [String]) ?? [] {
            #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/\(bridge)"), "bridge \(bridge) was left behind")
        }
        let projects = (doc["projects"] as? [String]) ?? []
        for project in projects {
            for hierarchy in ["pids/berth", "memory/berth", "berth", "unified/berth"] {
                let path = "/sys/fs/cgroup/\(hierarchy)/\(project)"
                #expect(!FileManager.default.fileExists(atPath: path), "cgroup \(path) was left behind")
            }
        }
        // The LAN rows' namespaces (host, LAN, the CNI peer's two containers), and with them their
        // bridges, veths and rules; nothing of theirs in the host's nftables or iptables.
        let namespaces = (doc["namespaces"] as? [String]) ?? []
        #expect(namespaces.count == 4, "the LAN rows' namespaces are not recorded: \(namespaces)")
        for name in namespaces {
            #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(name)"), "netns \(name) was left behind")
        }
        let ruleset = try Self.output("/usr/sbin/nft", ["list", "ruleset"])
        let iptables = try Self.output("/usr/sbin/iptables-save", [])
        for project in projects {
            #expect(!ruleset.contains(project), "nftables rules of \(project) were left behind")
        }
        let pid = work.split(separator: "-").last.map(String.init) ?? ""
        #expect(!iptables.contains("bench-\(pid)-"), "iptables rules of the CNI peer were left behind")
        // No process of the run: none in a cgroup of its projects or of its runc containers (bench-PID-*).
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            let cgroup = (try? String(contentsOfFile: "/proc/\(entry)/cgroup", encoding: .utf8)) ?? ""
            let ours = cgroup.contains("/bench-\(pid)-") || projects.contains { cgroup.contains("/\($0)/") }
            #expect(!ours, "process \(entry) was left behind: \(cgroup.prefix(300))")
        }
    }
}
