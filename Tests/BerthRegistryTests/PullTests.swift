@testable import BerthRegistry
import Foundation
import Testing

/// Pulls from Debian's docker-registry on 127.0.0.1, images made by umoci and pushed by skopeo.
@Suite(.serialized) struct PullTests {
    /// A registry, a scratch directory, an OCI layout to pull into; `close()` removes all.
    final class World: @unchecked Sendable {
        let registry: TestRegistry
        let scratch: TempDir
        let source: String
        let layout: OCILayout

        init(auth: TestRegistry.Auth = .anonymous, tls: Bool = false) throws {
            registry = try TestRegistry(auth: auth, tls: tls)
            do {
                scratch = try TempDir("pull")
            } catch {
                registry.stop()
                throw error
            }
            source = scratch.path + "/src"
            layout = OCILayout(root: scratch.path + "/pulled")
        }

        func close() {
            registry.stop()
            scratch.remove()
        }

        func image(_ tag: String, layers: [[String: String]], architecture: String = "amd64", random: [Int] = [], push target: String? = nil) throws {
            try ImageFactory.make(layout: source, tag: tag, layers: layers, architecture: architecture, bigLayers: random, scratch: scratch.path)
            if let target { try registry.push(layout: source, tag: tag, as: target) }
        }

        func configuration(insecure: Bool = true, authFile: String? = nil) -> RegistryConfiguration {
            RegistryConfiguration(certsDirectory: scratch.path + "/certs.d",
                                  insecureRegistries: insecure ? [registry.host] : [],
                                  credentials: CredentialStore(files: authFile.map { [$0] } ?? [scratch.path + "/no-auth.json"]),
                                  initialBackoff: .milliseconds(50))
        }

        func reference(_ s: String) throws -> RegistryReference { try RegistryReference.registry("\(registry.host)/\(s)") }

        /// The digest of what the registry serves for `ref`, as skopeo (not berth) sees it.
        func registryDigest(_ ref: String, creds: String? = nil) throws -> String {
            let raw = scratch.path + "/raw-\(UInt32.random(in: 0...UInt32.max))"
            let out = try sh(["/usr/bin/skopeo", "inspect", "--raw", "--tls-verify=false"] + (creds.map { ["--creds", $0] } ?? [])
                             + ["docker://\(registry.host)/\(ref)"])
            try out.write(toFile: raw, atomically: false, encoding: .utf8)
            return "sha256:" + String(try sh(["/usr/bin/sha256sum", raw]).prefix(64))
        }

        func temporaries() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: layout.root + "/blobs/sha256")) ?? []).filter { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }
        }
    }

    /// Every blob of a pulled image is on disk under its digest and hashes to it.
    static func expectVerified(_ result: PullResult, in layout: OCILayout) throws {
        for blob in [result.manifest, result.config] + result.layers {
            let path = layout.blobPath(blob.digest)
            #expect(FileManager.default.fileExists(atPath: path), "missing \(blob.digest)")
            #expect(try sh(["/usr/bin/sha256sum", path]).prefix(64) == blob.digest.hex[...])
        }
    }

    @Test(.enabled(if: geteuid() == 0, "umoci unpacks as root"))
    func anonymousPullStoresEveryBlobVerified() async throws {
        let w = try World()
        defer { w.close() }
        try w.image("1", layers: [["etc/os-release": "ID=berth\n"], ["app/hello.txt": "hello\n"]], push: "team/app:1")
        let puller = Puller(configuration: w.configuration())
        let events = EventLog()
        let result = try await puller.pull(try w.reference("team/app:1"), into: w.layout) { events.add($0) }
        #expect(result.manifest.digest.description == (try w.registryDigest("team/app:1")))
        #expect(result.layers.count == 2)
        try Self.expectVerified(result, in: w.layout)
        #expect(w.layout.entry(named: "\(w.registry.host)/team/app:1")?.digest == result.manifest.digest)
        #expect(events.layersDone == 2)
        #expect(w.temporaries().isEmpty)
        // A second pull finds every blob present and fetches none of them.
        let again = try await puller.pull(try w.reference("team/app:1"), into: w.layout)
        #expect(again.downloadedBytes == 0)
        #expect(again.manifest == result.manifest)
    }

    @Test(.enabled(if: geteuid() == 0))
    func plainHTTPOnlyForRegistriesNamedInsecure() async throws {
        let w = try World()
        defer { w.close() }
        try w.image("1", layers: [["a": "a"]], push: "app:1")
        do {
            _ = try await Puller(configuration: w.configuration(insecure: false)).pull(try w.reference("app:1"), into: w.layout)
            Issue.record("pulled over plain HTTP from a registry not named insecure")
        } catch let e as RegistryError {
            guard case .tls(let host, _) = e else { Issue.record("\(e)"); return }
            #expect(host == w.registry.host)
        }
    }

    @Test(.enabled(if: geteuid() == 0))
    func unknownImageTagAndDigestAreTheirOwnErrors() async throws {
        let w = try World()
        defer { w.close() }
        try w.image("1", layers: [["a": "a"]], push: "app:1")
        let puller = Puller(configuration: w.configuration())
        await #expect(throws: RegistryError.unknownImage(reference: "\(w.registry.host)/nothing:1")) {
            _ = try await puller.pull(try w.reference("nothing:1"), into: w.layout)
        }
        await #expect(throws: RegistryError.unknownTag(reference: "\(w.registry.host)/app:2")) {
            _ = try await puller.pull(try w.reference("app:2"), into: w.layout)
        }
        let absent = "sha256:" + String(repeating: "e", count: 64)
        await #expect(throws: RegistryError.unknownTag(reference: "\(w.registry.host)/app@\(absent)")) {
            _ = try await puller.pull(try w.reference("app@\(absent)"), into: w.layout)
        }
    }

    @Test(.enabled(if: geteuid() == 0))
    func digestReferencePullsExactlyThatManifest() async throws {
        let w = try World()
        defer { w.close() }
        try w.image("1", layers: [["v": "one"]], push: "app:1")
        let first = try w.registryDigest("app:1")
        try w.image("2", layers: [["v": "two"]], push: "app:1")
        // The tag has moved on; the digest still names the first image.
        let result = try await Puller(configuration: w.configuration()).pull(try w.reference("app@\(first)"), into: w.layout)
        #expect(result.manifest.digest.description == first)
        #expect(result.sourceDigest.description == first)
        try Self.expectVerified(result, in: w.layout)
    }

    @Test(.enabled(if: geteuid() == 0))
    func movedTagResolvesToTheNewDigest() async throws {
        let w = try World()
        defer { w.close() }
        let puller = Puller(configuration: w.configuration())
        try w.image("1", layers: [["v": "one"]], push: "app:stable")
        let before = try await puller.resolve(try w.reference("app:stable"))
        let pulled = try await puller.pull(try w.reference("app:stable"), into: w.layout)
        #expect(before == pulled.sourceDigest)
        try w.image("2", layers: [["v": "two"]], push: "app:stable")
        let after = try await puller.resolve(try w.reference("app:stable"))
        #expect(after != before)
        #expect(after.description == (try w.registryDigest("app:stable")))
        let repulled = try await puller.pull(try w.reference("app:stable"), into: w.layout)
        #expect(repulled.manifest.digest == after)
        #expect(w.layout.entry(named: "\(w.registry.host)/app:stable")?.digest == after)
    }

    @Test(.enabled(if: geteuid() == 0))
    func multiPlatformIndexPicksThePlatform() async throws {
        let w = try World()
        defer { w.close() }
        try w.image("amd", layers: [["arch": "amd64"]], architecture: "amd64")
        try w.image("arm", layers: [["arch": "arm64"]], architecture: "arm64")
        try ImageFactory.makeIndex(layout: w.source, tag: "multi", over: [("amd", "amd64"), ("arm", "arm64")])
        try w.registry.push(layout: w.source, tag: "multi", as: "app:multi", all: true)
        let ref = try w.reference("app:multi")
        for arch in ["amd64", "arm64"] {
            let puller = Puller(configuration: w.configuration(), platform: Platform(os: "linux", architecture: arch))
            let result = try await puller.pull(ref, into: OCILayout(root: w.scratch.path + "/pulled-\(arch)"))
            #expect(result.platform?.architecture == arch)
            #expect(result.sourceDigest.description == (try w.registryDigest("app:multi")))
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.scratch.path + "/pulled-\(arch)/blobs/sha256/\(result.config.digest.hex)"))) as! [String: Any]
            #expect(config["architecture"] as? String == arch)
        }
        let host = Platform.host
        if host.architecture == "amd64" || host.architecture == "arm64" {
            let result = try await Puller(configuration: w.configuration()).pull(ref, into: w.layout)
            #expect(result.platform?.architecture == host.architecture)
        }
        await #expect(throws: RegistryError.wrongPlatform(reference: ref.description, wanted: "linux/s390x", available: ["linux/amd64", "linux/arm64"])) {
            _ = try await Puller(configuration: w.configuration(), platform: Platform(os: "linux", architecture: "s390x")).pull(ref, into: w.layout)
        }
    }

    @Test(.enabled(if: geteuid() == 0))
    func htpasswdBasicAuthWithTheUsersAuthFile() async throws {
        let w = try World(auth: .htpasswd(user: "alice", password: "s3cret-pw"))
        defer { w.close() }
        try w.image("1", layers: [["a": "a"]], push: "app:1")
        let ref = try w.reference("app:1")
        let authFile = w.scratch.path + "/auth.json"
        // Anonymous: refused, naming the files that were looked in.
        do {
            _ = try await Puller(configuration: w.configuration()).pull(ref, into: w.layout)
            Issue.record("anonymous pull from an htpasswd registry succeeded")
        } catch let e as RegistryError {
            #expect(e == .unauthorized(registry: w.registry.host, tried: nil, searched: [w.scratch.path + "/no-auth.json"]))
        }
        // A wrong password: refused, naming the file tried, never the password.
        try writeAuthFile(authFile, registry: w.registry.host, user: "alice", password: "wrong-pw")
        do {
            _ = try await Puller(configuration: w.configuration(authFile: authFile)).pull(ref, into: w.layout)
            Issue.record("pull with a wrong password succeeded")
        } catch let e as RegistryError {
            #expect(e == .unauthorized(registry: w.registry.host, tried: authFile, searched: [authFile]))
            #expect(!e.description.contains("wrong-pw") && e.description.contains(authFile))
        }
        try writeAuthFile(authFile, registry: w.registry.host, user: "alice", password: "s3cret-pw")
        let result = try await Puller(configuration: w.configuration(authFile: authFile)).pull(ref, into: w.layout)
        try Self.expectVerified(result, in: w.layout)
        let records = try String(contentsOfFile: w.layout.root + "/index.json", encoding: .utf8)
        #expect(!records.contains("s3cret") && !records.contains(Data("alice:s3cret-pw".utf8).base64EncodedString()))
    }

    @Test(.enabled(if: geteuid() == 0))
    func bearerTokenFromTheIssuerTheRegistryTrusts() async throws {
        let w = try World(auth: .token(user: "bob", password: "tok-pw"))
        defer { w.close() }
        try w.image("1", layers: [["a": "a"], ["b": "b"]], push: "team/app:1")
        let ref = try w.reference("team/app:1")
        await #expect(throws: RegistryError.unauthorized(registry: w.registry.host, tried: nil, searched: [w.scratch.path + "/no-auth.json"])) {
            _ = try await Puller(configuration: w.configuration()).pull(ref, into: w.layout)
        }
        let authFile = w.scratch.path + "/auth.json"
        try writeAuthFile(authFile, registry: w.registry.host, user: "bob", password: "tok-pw")
        let result = try await Puller(configuration: w.configuration(authFile: authFile)).pull(ref, into: w.layout)
        #expect(result.manifest.digest.description == (try w.registryDigest("team/app:1", creds: "bob:tok-pw")))
        try Self.expectVerified(result, in: w.layout)
    }

    @Test(.enabled(if: geteuid() == 0))
    func tlsWithTheRegistrysCAInCertsD() async throws {
        let w = try World(tls: true)
        defer { w.close() }
        try w.image("1", layers: [["a": "a"]], push: "app:1")
        let ref = try w.reference("app:1")
        // Unknown CA: refused, naming the host.
        do {
            _ = try await Puller(configuration: w.configuration(insecure: false)).pull(ref, into: w.layout)
            Issue.record("pulled from a registry whose CA is unknown")
        } catch let e as RegistryError {
            guard case .tls(let host, _) = e else { Issue.record("not a TLS error: \(e)"); return }
            #expect(host == w.registry.host)
            #expect(e.description.contains(w.registry.host))
        }
        #expect(w.temporaries().isEmpty)
        let certs = w.scratch.path + "/certs.d/" + w.registry.host
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: w.registry.caCertificate!, toPath: certs + "/ca.crt")
        let result = try await Puller(configuration: w.configuration(insecure: false)).pull(ref, into: w.layout)
        try Self.expectVerified(result, in: w.layout)
    }

    @Test(.enabled(if: geteuid() == 0))
    func corruptBlobIsRefusedAndLeavesNothingThatLooksComplete() async throws {
        let w = try World()
        defer { w.close() }
        // Random bytes: gzip (skopeo compresses layers on push) cannot shrink them below the proxy's threshold.
        try w.image("1", layers: [], random: [200_000], push: "app:1")
        let log = w.scratch.path + "/proxy.log"
        let proxy = try Daemon(["/usr/bin/env", "python3", TestRegistry.supportDirectory + "/faulty_proxy.py", "corrupt",
                                String(w.registry.port), log], log: w.scratch.path + "/proxy.err")
        defer { proxy.stop() }
        let proxyHost = "127.0.0.1:" + (try proxy.firstLine())
        var config = w.configuration()
        config.insecureRegistries = [proxyHost]
        let ref = try RegistryReference.registry("\(proxyHost)/app:1")
        do {
            _ = try await Puller(configuration: config).pull(ref, into: w.layout)
            Issue.record("a corrupted blob was accepted")
        } catch let e as RegistryError {
            guard case .digestMismatch(let what, let expected, _) = e else { Issue.record("\(e)"); return }
            #expect(what.contains("layer"))
            #expect(!FileManager.default.fileExists(atPath: w.layout.blobPath(Digest(expected)!)))
        }
        #expect(w.temporaries().isEmpty)
        #expect(w.layout.entry(named: ref.description) == nil)
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("corrupted"))
    }

    @Test(.enabled(if: geteuid() == 0))
    func connectionCutMidLayerIsResumedThenComplete() async throws {
        let w = try World()
        defer { w.close() }
        try w.image("1", layers: [["small": "z"]], random: [300_000, 100_000], push: "app:1")
        let log = w.scratch.path + "/proxy.log"
        let proxy = try Daemon(["/usr/bin/env", "python3", TestRegistry.supportDirectory + "/faulty_proxy.py", "cut",
                                String(w.registry.port), log], log: w.scratch.path + "/proxy.err")
        defer { proxy.stop() }
        let proxyHost = "127.0.0.1:" + (try proxy.firstLine())
        var config = w.configuration()
        config.insecureRegistries = [proxyHost]
        let events = EventLog()
        let result = try await Puller(configuration: config).pull(try RegistryReference.registry("\(proxyHost)/app:1"), into: w.layout) { events.add($0) }
        try Self.expectVerified(result, in: w.layout)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.contains { $0.hasSuffix(" cut") })
        // The retry asked for the rest only (Range), and the registry answered 206.
        #expect(lines.contains { $0.contains("bytes=") && $0.contains(" 206 ") })
        #expect(events.retries > 0)
        #expect(w.temporaries().isEmpty)
    }
}

/// Events of a pull, counted.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [PullEvent] = []
    func add(_ e: PullEvent) { lock.lock(); events.append(e); lock.unlock() }
    var layersDone: Int { lock.lock(); defer { lock.unlock() }; return events.filter { if case .layerDone = $0 { return true } else { return false } }.count }
    var retries: Int { lock.lock(); defer { lock.unlock() }; return events.filter { if case .retrying = $0 { return true } else { return false } }.count }
}
