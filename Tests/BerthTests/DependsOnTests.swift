import BerthKernel
import Foundation
import Testing

@Suite("dependsOn: start order and conditions", .enabled(if: geteuid() == 0, "needs root"))
struct DependsOnTests {
    /// What berth recorded for a container (record.json).
    func record(_ box: Sandbox, _ name: String) throws -> [String: Any] {
        let path = "\(box.stateDirectory)/\(box.project)/containers/\(name)/record.json"
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    func file(_ box: Sandbox, _ name: String, _ file: String) throws -> [String: Any] {
        let path = "\(box.stateDirectory)/\(box.project)/containers/\(name)/\(file)"
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    func links(_ box: Sandbox, _ applets: [String]) throws {
        for applet in applets {
            try? FileManager.default.createSymbolicLink(atPath: "\(box.rootfs)/bin/\(applet)", withDestinationPath: "busybox")
        }
    }

    /// web (first in the file) waits for db to be healthy: it starts only after db's
    /// first passing check, as the recorded times show.
    @Test func aDependentStartsAfterItsDependencyIsHealthy() throws {
        let box = try Sandbox("deps-healthy")
        defer { box.close() }
        try links(box, ["test", "touch", "usleep"])
        try box.write("""
            version: 1
            containers:
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                dependsOn:
                  db: {condition: healthy}
              db:
                rootfs: ./rootfs
                command: [sh, -c, "usleep 500000; touch /tmp/ready; exec sleep 1000"]
                healthcheck:
                  test: ["CMD", "test", "-e", "/tmp/ready"]
                  interval: 100ms
                  startPeriod: 30s
                  startInterval: 100ms
            """)
        let out = try box.apply()
        // db is created first, whatever the file order.
        let lines = out.stdout.split(separator: "\n")
        let dbLine = lines.firstIndex { $0.contains("container db: created") }
        let webLine = lines.firstIndex { $0.contains("container web: created") }
        #expect(dbLine != nil && webLine != nil && dbLine! < webLine!, "\(out.stdout)")
        let health = try file(box, "db", "health.json")
        let log = health["log"] as? [[String: Any]] ?? []
        let firstPass = try #require(log.first { $0["exitCode"] as? Int == 0 }?["end"] as? Double, "\(health)")
        let webStarted = try #require(try record(box, "web")["startedAt"] as? Double)
        #expect(webStarted >= firstPass, "web started at \(webStarted), db was first healthy at \(firstPass)")
        #expect(log.contains { $0["exitCode"] as? Int != 0 }, "db was healthy at once; the test proves nothing: \(log)")
    }

    /// A completed job (a migration) gates its dependents; a failed one stops them, and says so.
    @Test(arguments: [0, 3])
    func aCompletedJobGatesItsDependents(exitCode: Int) throws {
        let box = try Sandbox("deps-job-\(exitCode)")
        defer { box.close() }
        try links(box, ["test", "touch", "usleep"])
        try box.write("""
            version: 1
            containers:
              web:
                rootfs: ./rootfs
                command: [sh, -c, "test -e /tmp/migrated && exec sleep 1000"]
                dependsOn:
                  migrate: {condition: completed}
              migrate:
                rootfs: ./rootfs
                command: [sh, -c, "usleep 300000; touch /tmp/migrated; exit \(exitCode)"]
                restart: never
            """)
        let r = try box.run("apply", "-f", box.specPath)
        if exitCode == 0 {
            #expect(r.status == 0, "\(r.stderr)")
            let finished = try #require(try file(box, "migrate", "exit.json")["finishedAt"] as? Double)
            let webStarted = try #require(try record(box, "web")["startedAt"] as? Double)
            #expect(webStarted >= finished)
            #expect(try box.container("web")?["state"] as? String == "running")
        } else {
            #expect(r.status == 1)
            #expect(r.stderr.contains("web depends on migrate being completed, but migrate ended with exit code 3"), "\(r.stderr)")
            #expect(try box.container("web")?["state"] as? String != "running")
            #expect(try box.container("migrate")?["state"] as? String == "exited")
        }
    }

    @Test func aConditionThatNeverComesTrueEndsTheApplyAfterTheWaitTimeout() throws {
        let box = try Sandbox("deps-timeout")
        defer { box.close() }
        try box.write("""
            version: 1
            containers:
              db:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                healthcheck: {test: ["CMD", "false"], interval: 100ms, startInterval: 100ms}
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                dependsOn: {db: {condition: healthy}}
            """)
        let r = try box.run("apply", "-f", box.specPath, "--wait-timeout", "1s")
        #expect(r.status == 1)
        #expect(r.stderr.contains("web depends on db being healthy, which did not come true within 1s (--wait-timeout)"),
                "\(r.stderr)")
        #expect(try box.container("web") == nil || (try box.container("web")?["state"] as? String) != "running")
        // destroy goes in reverse order of the dependencies.
        try box.write("""
            version: 1
            containers:
              db:
                rootfs: ./rootfs
                command: [sleep, "1000"]
              web:
                rootfs: ./rootfs
                command: [sleep, "1000"]
                dependsOn: [db]
            """)
        try box.apply()
        let down = try box.run("destroy", "-p", box.project)
        let lines = down.stdout.split(separator: "\n")
        let webLine = lines.firstIndex { $0.contains("container web: destroyed") }
        let dbLine = lines.firstIndex { $0.contains("container db: destroyed") }
        #expect(webLine != nil && dbLine != nil && webLine! < dbLine!, "\(down.stdout)")
    }
}
