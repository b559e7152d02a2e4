import Foundation
import Testing

/// `berth reconcile --metrics-address`: scraped over HTTP and parsed by prometheus-client's
/// parser (PyPI), as a Prometheus server would read it.
@Suite("berth reconcile --metrics-address", .enabled(if: geteuid() == 0, "needs root"))
struct MetricsTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Scripts/scrape_metrics.py").path

    struct Sample {
        var family: String
        var type: String
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Scrape {
        var status: Int
        var contentType: String?
        var samples: [Sample]

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
        }

        func type(of family: String) -> String? { samples.first { $0.family == family }?.type }
    }

    static func scrape(_ url: String) throws -> Scrape {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, url]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let doc = try JSONSerialization.jsonObject(with: o) as? [String: Any] else {
            throw ScrapeFailed(description: "scrape of \(url) failed: \(String(decoding: e, as: UTF8.self))")
        }
        let samples = (doc["samples"] as? [[String: Any]] ?? []).map {
            Sample(family: $0["family"] as? String ?? "", type: $0["type"] as? String ?? "", name: $0["name"] as? String ?? "",
                   labels: $0["labels"] as? [String: String] ?? [:], value: ($0["value"] as? NSNumber)?.doubleValue ?? .nan)
        }
        return Scrape(status: doc["status"] as? Int ?? 0, contentType: doc["contentType"] as? String, samples: samples)
    }

    struct ScrapeFailed: Error, CustomStringConvertible { var description: String }

    @Test func scrapedAndParsedByPrometheusClient() throws {
        let box = try Sandbox("metrics")
        defer { box.close() }
        try FileManager.default.createSymbolicLink(atPath: "\(box.rootfs)/bin/test", withDestinationPath: "busybox")
        try box.write("""
            version: 1
            containers:
              web:
                rootfs: ./rootfs
                command: [sh, -c, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1000"]
                resources: {memory: 32Mi}
                healthcheck: {test: ["CMD", "test", "-d", "/"], interval: 200ms, startInterval: 100ms}
              plain:
                rootfs: ./rootfs
                command: [sleep, "1000"]
            """)
        // Port 0: the kernel picks a free one; the reconciler logs the address it bound.
        let reconciler = try ReconcilerRun(box, interval: "1s", arguments: ["--metrics-address", ":0"])
        defer { reconciler.stop() }
        guard reconciler.waitReady() else { return }
        let line = try #require(reconciler.lines.first { $0.contains("serving metrics") }, "\(reconciler.log)")
        let address = try #require(line.split(separator: " ").first { $0.hasPrefix("address=") }?.dropFirst("address=".count))
        let url = address.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        #expect(url.hasPrefix("http://127.0.0.1:"), "without a host it listens on loopback only: \(url)")

        let web = ["project": box.project, "container": "web"]
        var scrape = try Self.scrape(url)
        #expect(try eventually(timeout: 10) {
            scrape = try Self.scrape(url)
            return scrape.value("berth_container_health", web.merging(["status": "healthy"]) { $1 }) == 1
        }, "\(scrape.samples.map { "\($0.name)\($0.labels) \($0.value)" })")
        #expect(scrape.status == 200 && scrape.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(scrape.value("berth_container_up", web) == 1)
        #expect(scrape.value("berth_container_up", ["container": "plain"]) == 1)
        #expect((scrape.value("berth_container_cpu_seconds_total", web) ?? 0) > 0)
        #expect(scrape.type(of: "berth_container_cpu_seconds") == "counter")
        #expect((scrape.value("berth_container_memory_bytes", web) ?? 0) > 0)
        #expect((scrape.value("berth_container_memory_peak_bytes", web) ?? 0) >= (scrape.value("berth_container_memory_bytes", web) ?? 1))
        #expect((scrape.value("berth_container_pids", web) ?? 0) >= 2)
        #expect(scrape.value("berth_container_restarts_total", web) == 0)
        #expect(scrape.value("berth_container_oom_kills_total", web) == 0)
        #expect(scrape.value("berth_container_health", web.merging(["status": "unhealthy"]) { $1 }) == 0)
        #expect(scrape.value("berth_container_health", ["container": "plain"]) == nil, "no check, no health series")
        let project = ["project": box.project]
        #expect((scrape.value("berth_reconciler_passes_total", project) ?? 0) >= 1)
        #expect(scrape.value("berth_reconciler_repairs_total", project) == 2, "its first pass created both")
        #expect(scrape.value("berth_reconciler_errors_total", project) == 0)
        #expect((scrape.value("berth_reconciler_pass_duration_seconds_count", project) ?? 0) >= 1)
        #expect(scrape.type(of: "berth_reconciler_pass_duration_seconds") == "histogram")

        // The reconciler starts a killed container again: up, restarts and repairs follow.
        let command = try #require(try box.commandPID(of: "plain"))
        kill(command, SIGKILL)
        #expect(try eventually(timeout: 20) {
            scrape = try Self.scrape(url)
            return scrape.value("berth_container_restarts_total", ["container": "plain"]) == 1
                && scrape.value("berth_container_up", ["container": "plain"]) == 1
        }, "\(reconciler.log)")
        #expect(scrape.value("berth_reconciler_repairs_total", project) == 3)

        #expect(try Self.scrape(url.replacingOccurrences(of: "/metrics", with: "/other")).status == 404)
    }

    @Test func anAddressThatIsNoneIsRefused() throws {
        let box = try Sandbox("metrics-bad")
        defer { box.close() }
        try box.write("version: 1\ncontainers: {}\n")
        let r = try box.run("reconcile", "-f", box.specPath, "--metrics-address", "localhost:http")
        #expect(r.status != 0)
        #expect(r.stderr.contains("--metrics-address: \"localhost:http\" is not HOST:PORT with an IP address"), "\(r.stderr)")
    }
}
