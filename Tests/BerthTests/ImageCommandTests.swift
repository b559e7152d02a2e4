import Foundation
import Glibc
import Testing

/// `berth image ...` as a user types it.
@Suite("berth image", .enabled(if: geteuid() == 0, "needs root"))
struct ImageCommandTests {
    @Test("import, ls, inspect, rm refused while used, prune frees only what nothing uses")
    func lifecycle() throws {
        let box = try Sandbox("imagecli")
        defer { box.close() }
        let f = try ImageFixtures("cli")
        defer { f.close() }
        let layout = try f.umociLayout()
        let imported = try box.run("image", "import", "oci:\(layout):app", "--name", "demo/web:1.0")
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("imported sha256:") && imported.stdout.contains("docker.io/demo/web:1.0"))
        #expect(try box.run("image", "import", "oci:\(layout):other", "--name", "other:1").status == 0)
        let bad = try box.run("image", "import", "oci:\(f.directory)/nowhere")
        #expect(bad.status != 0 && bad.stderr.contains("no such file or directory"), "\(bad.stderr)")

        let ls = try box.run("image", "ls")
        #expect(ls.stdout.contains("NAME") && ls.stdout.contains("docker.io/demo/web:1.0") && ls.stdout.contains("docker.io/library/other:1"))
        let inspect = try box.run("image", "inspect", "demo/web:1.0")
        let config = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        #expect((config?["config"] as? [String: Any])?["Entrypoint"] as? [String] == ["/bin/sh", "-c"])

        // A container of web:1.0: rm is refused, ls shows who uses it.
        try box.write("version: 1\ncontainers:\n  web:\n    image: demo/web:1.0\n    command: [\"sleep 3600\"]\n    namespaces: [uts, ipc, pid, mount]\n")
        try box.apply()
        let json = try box.run("image", "ls", "--output", "json")
        let doc = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let images = doc?["images"] as? [[String: Any]] ?? []
        let web = images.first { ($0["names"] as? [String])?.contains("docker.io/demo/web:1.0") == true }
        #expect(web?["usedBy"] as? [String] == ["\(box.project)/web"])
        #expect(web?["layers"] as? Int == 3)
        let refused = try box.run("image", "rm", "demo/web:1.0")
        #expect(refused.status != 0 && refused.stderr.contains("is used by \(box.project)/web"), "\(refused.stderr)")

        // other:1 removed and pruned: its own layer goes, the shared base stays (web uses it).
        #expect(try box.run("image", "rm", "other:1").status == 0)
        let pruned = try box.run("image", "prune")
        #expect(pruned.status == 0)
        #expect(pruned.stdout.contains("deleted layer sha256:") && pruned.stdout.contains("Freed"), "\(pruned.stdout)")
        #expect(try box.exec("web", "cat", "/data/new").stdout == "new\n")
        let second = try box.run("image", "prune", "--output", "json")
        let freed = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
        #expect(freed?["bytes"] as? Int == 0)
    }

    @Test("kill -9 during an import leaves no image visible and no half layer; the next import completes it")
    func killedImport() throws {
        let box = try Sandbox("killimport")
        defer { box.close() }
        let f = try ImageFixtures("killimport")
        defer { f.close() }
        // Four layers of 24 MiB each (random, so gzip cannot shrink the work away).
        let layout = try f.pythonLayout("big", layers: Array(repeating: "add('blob', os.urandom(24 << 20))", count: 4), compress: "gzip")
        let store = box.stateDirectory + "/images"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: box.berth)
        p.arguments = ["image", "import", "oci:\(layout)"]
        p.environment = ["BERTH_STATE_DIR": box.stateDirectory, "PATH": "/usr/bin:/bin"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Kill it while a layer is being unpacked.
        let caught = eventually(timeout: 30) {
            ((try? FileManager.default.contentsOfDirectory(atPath: store + "/tmp")) ?? []).contains { $0.hasPrefix("layer-") }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        try #require(caught, "the import finished before a layer was seen in progress")
        let ls = try box.run("image", "ls", "--output", "json")
        let doc = try JSONSerialization.jsonObject(with: Data(ls.stdout.utf8)) as? [String: Any]
        #expect((doc?["images"] as? [Any])?.isEmpty == true, "\(ls.stdout)")
        // Every layer directory that made it is whole: the 24 MiB file is all there.
        for layer in (try? FileManager.default.contentsOfDirectory(atPath: store + "/layers")) ?? [] {
            let size = (try FileManager.default.attributesOfItem(atPath: "\(store)/layers/\(layer)/blob")[.size] as? Int) ?? 0
            #expect(size == 24 << 20)
        }
        let again = try box.run("image", "import", "oci:\(layout)")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: store + "/tmp")) ?? []).isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: store + "/layers")) ?? []).count == 4)
    }
}
