import Foundation
import Testing

@Suite("berth logs and berth exec options, as a user runs them", .enabled(if: geteuid() == 0, "needs root"))
struct LogsCommandTests {
    static func spec(_ command: String) -> String {
        """
        version: 1
        containers:
          web:
            rootfs: ./rootfs
            command: [sh, -c, "\(command)"]
            logging: {maxSize: 64Ki, maxFiles: 2}
          job:
            rootfs: ./rootfs
            command: [seq, "1", "3"]
            restart: never
        """
    }

    @Test func logsFiltersFormatsAndKeepsThePreviousRun() throws {
        let box = try Sandbox("logs-cli")
        defer { box.close() }
        try box.write(Self.spec("echo out1; echo err1 >&2; echo out2; exec sleep 1000"))
        try box.apply()
        let logs = { (args: [String]) throws -> Sandbox.Result in try box.run(["logs", "-p", box.project] + args) }
        #expect(eventually { (try? logs(["web"]).stdout.contains("out2")) ?? false })

        #expect(try logs(["web", "--stream", "stderr"]).stdout == "err1\n")
        #expect(try logs(["web", "--stream", "stdout", "--tail", "1"]).stdout == "out2\n")
        #expect(try logs(["web", "--since", "1h", "--stream", "stdout"]).stdout == "out1\nout2\n")
        #expect(try logs(["web", "--since", "2999-01-01T00:00:00Z"]).stdout == "")
        let stamped = try logs(["web", "--timestamps", "--stream", "stderr"]).stdout
        #expect(stamped.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err1\n$"#, options: .regularExpression) != nil, "\(stamped)")
        let json = try logs(["web", "--output", "json"]).stdout.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        // Two pipes: order is kept within a stream.
        #expect(json.filter { $0["stream"] as? String == "stdout" }.map { $0["line"] as? String } == ["out1", "out2"], "\(json)")
        #expect(json.filter { $0["stream"] as? String == "stderr" }.map { $0["line"] as? String } == ["err1"], "\(json)")
        #expect(json.allSatisfy { ($0["time"] as? String)?.hasSuffix("Z") == true })
        let bad = try logs(["web", "--since", "yesterday"])
        #expect(bad.status != 0 && bad.stderr.contains("--since yesterday"), "\(bad.stderr)")

        // A one-shot job that has ended: --follow prints all of it and returns.
        #expect(eventually { (try? logs(["job"]).stdout) == "1\n2\n3\n" })
        let followed = try logs(["job", "--follow"])
        #expect(followed.status == 0 && followed.stdout == "1\n2\n3\n", "\(followed.stderr)")

        // A replace starts a new run: the one before stays readable with --previous.
        try box.write(Self.spec("echo second; exec sleep 1000"))
        try box.apply()
        #expect(eventually { (try? logs(["web"]).stdout) == "second\n" })
        #expect(try logs(["web", "--previous", "--stream", "stdout"]).stdout == "out1\nout2\n")
    }

    @Test func execTakesUserEnvironmentAndDirectory() throws {
        let box = try Sandbox("exec-options")
        defer { box.close() }
        try box.write(Self.spec("exec sleep 1000"))
        try box.apply()
        let r = try box.run(["exec", "-p", box.project, "--user", "1000:1001", "--env", "GREETING=hi there",
                             "--workdir", "/tmp", "web", "--", "sh", "-c", "echo $(id -u):$(id -g) $GREETING $(pwd)"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "1000:1001 hi there /tmp\n")
        let code = try box.run(["exec", "-p", box.project, "web", "--", "sh", "-c", "exit 7"])
        #expect(code.status == 7)
        let wrong = try box.run(["exec", "-p", box.project, "--user", "root", "web", "--", "true"])
        #expect(wrong.status != 0 && wrong.stderr.contains("--user root"), "\(wrong.stderr)")
    }
}
