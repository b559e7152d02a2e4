@testable import BerthRegistry
import Foundation
import Testing

/// `image: 127.0.0.1:PORT/app:1` in a spec, end to end with the berth binary: pulled into the
/// store, started, and replaced when its tag moves (`pull: always`), as `plan --refresh` said.
@Suite(.serialized) struct ApplyPullTests {
    static func berth(_ args: [String], state: String, env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("berth")
        p.arguments = args + ["--state-dir", state]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test(.enabled(if: geteuid() == 0, "containers need root"), arguments: [
        TestRegistry.Auth.anonymous, .htpasswd(user: "carol", password: "pw-carol"), .token(user: "dave", password: "pw-dave"),
    ])
    func registryImageIsPulledStartedAndReplacedWhenItsTagMoves(auth: TestRegistry.Auth) throws {
        let registry = try TestRegistry(auth: auth)
        let scratch = try TempDir("apply-pull")
        let project = "rp-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        let state = scratch.path + "/state"
        let spec = scratch.path + "/\(project).yaml"
        defer {
            _ = try? Self.berth(["destroy", "-p", project], state: state)
            registry.stop()
            scratch.remove()
        }
        let source = scratch.path + "/src"
        try ImageFactory.make(layout: source, tag: "1", layers: [["etc/version": "one\n"]], busybox: true, scratch: scratch.path)
        try registry.push(layout: source, tag: "1", as: "app:1")
        var env: [String: String] = [:]
        switch auth {
        case .anonymous: break
        case .htpasswd(let u, let p), .token(let u, let p):
            let file = scratch.path + "/auth.json"
            try writeAuthFile(file, registry: registry.host, user: u, password: p)
            env["REGISTRY_AUTH_FILE"] = file
        }
        try """
            version: 1
            containers:
              app:
                image: \(registry.host)/app:1
                pull: always
                command: [/bin/sh, -c, "cat /etc/version; sleep 3600"]
                namespaces: [uts, ipc, pid, mount]
            """.write(toFile: spec, atomically: true, encoding: .utf8)
        let insecure = ["--insecure-registry", registry.host]
        let first = try Self.berth(["apply", "-f", spec] + insecure, state: state, env: env)
        #expect(first.status == 0, "\(first.err)")
        #expect(first.err.contains("pulling \(registry.host)/app:1"))
        let inspected = try Self.berth(["plan", "-f", spec], state: state)
        #expect(inspected.out.contains("No changes."), "\(inspected.out)")

        // The tag moves: plan (offline) does not know, plan --refresh shows the replacement.
        try ImageFactory.make(layout: source, tag: "2", layers: [["etc/version": "two\n"]], busybox: true, scratch: scratch.path)
        try registry.push(layout: source, tag: "2", as: "app:1")
        #expect(try Self.berth(["plan", "-f", spec], state: state).out.contains("No changes."))
        let refreshed = try Self.berth(["plan", "-f", spec, "--refresh"] + insecure, state: state, env: env)
        #expect(refreshed.out.contains("# forces replacement, tag \(registry.host)/app:1 moved"), "\(refreshed.out)\(refreshed.err)")
        let second = try Self.berth(["apply", "-f", spec] + insecure, state: state, env: env)
        #expect(second.status == 0, "\(second.err)")
        #expect(second.err.contains("moved to"))
        #expect(second.out.contains("replaced"), "\(second.out)")
        #expect(try Self.berth(["plan", "-f", spec, "--refresh"] + insecure, state: state, env: env).out.contains("No changes."))
        let logs = try Self.berth(["logs", "app", "-p", project], state: state)
        let deadline = Date().addingTimeInterval(10)
        var text = logs.out
        while !text.contains("two"), Date() < deadline {
            usleep(50_000)
            text = try Self.berth(["logs", "app", "-p", project], state: state).out
        }
        #expect(text.contains("two"), "\(text)")
    }

    @Test(.enabled(if: geteuid() == 0))
    func pullNeverWithAMissingImageIsAPreflightErrorNamingImagePull() throws {
        let scratch = try TempDir("pull-never")
        defer { scratch.remove() }
        let spec = scratch.path + "/never.yaml"
        try """
            version: 1
            containers:
              app:
                image: 127.0.0.1:1/app:1
                pull: never
                command: [/bin/true]
            """.write(toFile: spec, atomically: true, encoding: .utf8)
        let r = try Self.berth(["apply", "-f", spec], state: scratch.path + "/state")
        #expect(r.status != 0)
        #expect(r.err.contains("containers.app.image") && r.err.contains("berth image pull 127.0.0.1:1/app:1"), "\(r.err)")
    }

    @Test(.enabled(if: geteuid() == 0))
    func imagePullCommandPrintsALinePerLayerAndQuietTheDigest() throws {
        let registry = try TestRegistry()
        let scratch = try TempDir("pull-cli")
        defer { registry.stop(); scratch.remove() }
        try ImageFactory.make(layout: scratch.path + "/src", tag: "1", layers: [["a": "a"], ["b": "b"]], scratch: scratch.path)
        try registry.push(layout: scratch.path + "/src", tag: "1", as: "app:1")
        let state = scratch.path + "/state"
        let r = try Self.berth(["image", "pull", "\(registry.host)/app:1", "--insecure-registry", registry.host], state: state)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.split(separator: "\n").filter { $0.hasPrefix("sha256:") && $0.contains(" in ") }.count == 2, "\(r.err)")
        let q = try Self.berth(["image", "pull", "-q", "\(registry.host)/app:1", "--insecure-registry", registry.host], state: state)
        #expect(q.status == 0 && q.err.isEmpty)
        #expect(q.out.hasPrefix("sha256:") && q.out.count == 72, "\(q.out)")
        // Pulled images are in the store, under their full name; staging leaves nothing behind.
        let records = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: state + "/images/images.json"))) as? [String: Any]
        let names = (records?["images"] as? [[String: Any]] ?? []).flatMap { $0["names"] as? [String] ?? [] }
        #expect(names.contains("\(registry.host)/app:1"), "\(names)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: state + "/registry")) ?? []).isEmpty)
    }
}
