import ArgumentParser
import Berth
import BerthKernel
import FoundationEssentials

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every container as observed: state, PID, uptime, restarts, last exit, limits and usage.")

    @OptionGroup var listing: ListingOptions
    var project: String? { listing.project }
    var output: OutputFormat { listing.output }
    @OptionGroup var options: EngineOptions

    func run() throws {
        let engine = try options.engine()
        let projects = project.map { [$0] } ?? engine.projects()
        let all = try projects.flatMap { try engine.status(project: $0) }
        switch output {
        case .json:
            Console.out(try JSON.document(StatusDocument(containers: all)))
        case .text:
            Console.out(Self.table(all))
        }
    }

    struct StatusDocument: Encodable {
        var formatVersion = 1
        var containers: [ContainerStatus]
    }

    static func table(_ rows: [ContainerStatus]) -> String {
        guard !rows.isEmpty else { return "No containers." }
        let header = ["PROJECT", "NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "MEMORY", "CPU", "NETWORKS",
                      "HEALTH", "LAST STOP", "IMAGE"]
        let body = rows.map { s -> [String] in
            let memory: String
            if let used = s.usage?.memoryCurrent {
                memory = ByteSize.format(roundedToKi(used)) + " / " + (s.limits?.memoryBytes.map(ByteSize.format) ?? "-")
            } else {
                memory = "-"
            }
            let cpu = s.usage?.cpuUsageNanos.map { Printf.string("%.2fs", Double($0) / 1e9) } ?? "-"
            var state = s.state
            if let health = s.health {
                state += health.stoppedUnhealthyAt != nil && s.state != "running" ? " (stopped: unhealthy)" : " (\(health.status.rawValue))"
            }
            if s.oomKilled {
                state += " (OOM killed)"
            } else if let kills = s.oomKills, kills > 0 {
                state += " (OOM kills: \(kills))"
            }
            if let due = s.nextStartAt {
                let left = due - Date().timeIntervalSince1970
                state += left > 0 ? " (next start in \(duration(left.rounded(.up))))" : " (start due)"
            }
            return [s.project, s.name, state, s.pid.map(String.init) ?? "-",
                    s.uptimeSeconds.map(duration) ?? "-", String(s.restarts),
                    s.lastExit?.summary ?? "-", memory, cpu, networks(s), health(s), s.lastStop?.summary ?? "-",
                    s.imageDigest.map { "\(s.image ?? "") \($0.prefix(19)) (\(s.root ?? "overlay"))" } ?? "-"]
        }
        return Table.render(header: header, rows: body)
    }

    /// `front=10.88.1.10/24 back=10.88.2.3/24`
    static func networks(_ s: ContainerStatus) -> String {
        s.networks.isEmpty ? "-" : s.networks.map { "\($0.network)=\($0.addresses.joined(separator: ","))" }.joined(separator: " ")
    }

    /// The last check: `12:04:05 exit 0 "ok"`, `12:04:05 timed out`.
    static func health(_ s: ContainerStatus) -> String {
        guard let last = s.health?.log.last else { return s.health == nil ? "-" : "no check yet" }
        let how = last.timedOut ? "timed out" : last.exitCode.map { "exit \($0)" } ?? "killed"
        var head = last.output.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        if head.count > 40 { head = String(head.prefix(39)) + "…" }
        return "\(ExitRecord.clock(last.end)) \(how)" + (head.isEmpty ? "" : " \"\(head)\"")
    }

    static func roundedToKi(_ bytes: UInt64) -> UInt64 { bytes / 1024 * 1024 }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\(s % 3600 / 60)m" }
        return "\(s / 86400)d\(s % 86400 / 3600)h"
    }
}
