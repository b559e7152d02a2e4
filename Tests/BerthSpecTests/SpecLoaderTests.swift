import Foundation
import Testing
@testable import BerthSpec

@Suite("Spec loader")
struct SpecLoaderTests {
    func load(_ text: String, fileName: String = "demo.yaml", base: String = "/srv/specs") throws -> Spec {
        switch SpecLoader.load(text: text, fileName: fileName, baseDirectory: base) {
        case .success(let spec): return spec
        case .failure(let error):
            Issue.record("unexpected diagnostics:\n\(error)")
            throw error
        }
    }

    func diagnostics(_ text: String, fileName: String = "demo.yaml") -> [Diagnostic] {
        switch SpecLoader.load(text: text, fileName: fileName, baseDirectory: "/srv/specs") {
        case .success: return []
        case .failure(let error): return error.diagnostics
        }
    }

    @Test("defaults are filled")
    func defaults() throws {
        let spec = try load("""
            version: 1
            networks:
              front: {subnet: 10.88.1.0/24}
            containers:
              web:
                rootfs: ./rootfs/busybox
                command: [/bin/httpd, -f]
            """)
        #expect(spec.version == 1)
        #expect(spec.project == "demo", "the file name without extension")
        let network = try #require(spec.network(named: "front"))
        #expect(network.gateway == IPv4Address("10.88.1.1"))
        #expect(network.bridge == Network.defaultBridgeName(project: "demo", network: "front"))
        #expect(network.mtu == nil)
        #expect(network.masquerade == false)
        let web = try #require(spec.container(named: "web"))
        #expect(web.rootfs == "/srv/specs/rootfs/busybox")
        #expect(web.command == ["/bin/httpd", "-f"])
        #expect(web.env.isEmpty)
        #expect(web.workdir == "/")
        #expect(web.user == .root)
        #expect(web.hostname == "web")
        #expect(web.namespaces == [.uts, .ipc, .pid, .mount, .network])
        #expect(web.userns == nil)
        #expect(web.networks.isEmpty)
        #expect(web.dns.isEmpty)
        #expect(web.resources == Resources())
        #expect(web.restart == .always)
        #expect(web.stopSignal == Signal(name: "SIGTERM", number: 15))
        #expect(web.stopTimeout.milliseconds == 10_000)
        #expect(web.readOnlyRootfs == false)
        #expect(web.capabilities == CapabilityChanges())
        #expect(web.mounts.isEmpty)
    }

    @Test("every field lands in the model")
    func everyField() throws {
        let spec = try load("""
            version: 1
            project: shop
            networks:
              front: {subnet: 10.88.1.0/24, gateway: 10.88.1.254, bridge: bfront0, mtu: 1400, masquerade: true}
              back: {subnet: 10.88.2.0/24}
            containers:
              web:
                rootfs: /abs/rootfs
                command: [/bin/sleep, 10, true]
                env: {Z: last, A: 1, M: false}
                workdir: /srv/./app/
                user: "1000:2000"
                hostname: web.local
                namespaces: [network, mount, user, uts]
                userns:
                  uidMap: [{container: 0, host: 100000, size: 65536}]
                  gidMap: [{container: 0, host: 100000, size: 65536}]
                networks:
                  back: {}
                  front: {ip: 10.88.1.10}
                dns: [10.88.1.254]
                resources:
                  cpus: "500m"
                  cpuWeight: 200
                  cpuset: "0-1,3"
                  memory: 128Mi
                  memorySwap: 64Mi
                  pids: 100
                  io:
                    - {device: /dev/vda, readBps: 1Mi, writeIops: 10}
                    - {device: "8:16", writeBps: 2M, readIops: 5}
                restart: on-failure
                stopSignal: quit
                stopTimeout: 1m30s
                readOnlyRootfs: true
                capabilities: {add: [net_admin], drop: [CAP_MKNOD, sys_chroot]}
                mounts:
                  - {source: ../data, target: /data, readOnly: true}
                  - {type: tmpfs, target: /tmp, size: 16Mi}
                  - {type: tmpfs, target: /run}
            """)
        #expect(spec.project == "shop")
        #expect(spec.networks.map(\.name) == ["front", "back"], "in file order")
        let front = spec.networks[0]
        #expect(front.subnet == IPv4CIDR("10.88.1.0/24"))
        #expect(front.gateway == IPv4Address("10.88.1.254"))
        #expect(front.bridge == "bfront0")
        #expect(front.mtu == 1400)
        #expect(front.masquerade)
        let web = spec.containers[0]
        #expect(web.rootfs == "/abs/rootfs")
        #expect(web.command == ["/bin/sleep", "10", "true"])
        #expect(web.env == [EnvVar(name: "A", value: "1"), EnvVar(name: "M", value: "false"), EnvVar(name: "Z", value: "last")])
        #expect(web.workdir == "/srv/app")
        #expect(web.user == User(uid: 1000, gid: 2000))
        #expect(web.hostname == "web.local")
        #expect(web.namespaces == [.uts, .mount, .network, .user], "sorted in Namespace order")
        #expect(web.userns?.uidMap == [IDMapping(container: 0, host: 100_000, size: 65536)])
        #expect(web.networks == [NetworkAttachment(network: "back"), NetworkAttachment(network: "front", ip: IPv4Address("10.88.1.10"))])
        #expect(web.dns == [IPv4Address("10.88.1.254")!])
        let r = web.resources
        #expect(r.cpus == CPUAmount(millicores: 500))
        #expect(r.cpus?.text == "500m")
        #expect(r.cpuWeight == 200)
        #expect(r.cpuset?.cpus == [0, 1, 3])
        #expect(r.memory?.bytes == 128 << 20)
        #expect(r.memory?.text == "128Mi")
        #expect(r.memorySwap?.bytes == 64 << 20)
        #expect(r.pids == 100)
        #expect(r.io == [
            IOLimit(device: .path("/dev/vda"), readBps: ByteSize(bytes: 1 << 20), writeIops: 10),
            IOLimit(device: .number(major: 8, minor: 16), writeBps: ByteSize(bytes: 2 << 20), readIops: 5),
        ])
        #expect(web.restart == .onFailure)
        #expect(web.stopSignal.name == "SIGQUIT")
        #expect(web.stopTimeout.milliseconds == 90_000)
        #expect(web.readOnlyRootfs)
        #expect(web.capabilities == CapabilityChanges(add: ["CAP_NET_ADMIN"], drop: ["CAP_MKNOD", "CAP_SYS_CHROOT"]))
        #expect(web.mounts == [
            .bind(source: "/srv/data", target: "/data", readOnly: true),
            .tmpfs(target: "/tmp", size: ByteSize(bytes: 16 << 20), readOnly: false),
            .tmpfs(target: "/run", size: nil, readOnly: false),
        ])
    }

    @Test("drop: [ALL] stands for every capability but those added by name")
    func dropAll() throws {
        let spec = try load("version: 1\ncontainers:\n  a: {rootfs: ./r, command: [a], capabilities: {drop: [all], add: [NET_BIND_SERVICE]}}\n")
        #expect(spec.containers[0].capabilities.drop.count == Capability.names.count - 1)
        #expect(!spec.containers[0].capabilities.drop.contains("CAP_NET_BIND_SERVICE"))
        #expect(spec.containers[0].capabilities.add == ["CAP_NET_BIND_SERVICE"])
        let dropAll = try load("version: 1\ncontainers:\n  a: {rootfs: ./r, command: [a], capabilities: {drop: [ALL, MKNOD]}}\n")
        #expect(dropAll.containers[0].capabilities.drop == Capability.names)
        let addAll = try load("version: 1\ncontainers:\n  a: {rootfs: ./r, command: [a], capabilities: {add: [ALL], drop: [SYS_ADMIN]}}\n")
        #expect(addAll.containers[0].capabilities.add == Capability.names.filter { $0 != "CAP_SYS_ADMIN" })
        #expect(addAll.containers[0].capabilities.drop == ["CAP_SYS_ADMIN"])
    }

    @Test("containers keep the file's order, also with merge keys and x- entries")
    func order() throws {
        let spec = try load("""
            version: 1
            x-base: &base {rootfs: ./r, command: [a]}
            containers:
              zeta: *base
              x-skip: {}
              alpha: {<<: *base}
              mid: {<<: *base, restart: never}
            """)
        #expect(spec.containers.map(\.name) == ["zeta", "alpha", "mid"])
        #expect(spec.containers[2].restart == .never)
    }

    @Test("x- keys are ignored everywhere but in env, where they are variable names")
    func extensionKeys() throws {
        let spec = try load("""
            version: 1
            x-top: 1
            containers:
              x-not-a-container: {}
              web:
                x-note: ignored
                rootfs: ./r
                command: [a]
                env: {x-kept: "yes", A: b}
                resources: {x-why: ignored, pids: 5}
            """)
        #expect(spec.containers.map(\.name) == ["web"])
        #expect(spec.containers[0].env == [EnvVar(name: "A", value: "b"), EnvVar(name: "x-kept", value: "yes")])
        #expect(spec.containers[0].resources.pids == 5)
    }

    @Test("a SpecError prints one diagnostic a line")
    func specErrorDescription() {
        guard case .failure(let error) = SpecLoader.load(text: "version: 2\n", fileName: "v.yaml", baseDirectory: "/") else {
            Issue.record("version 2 loads")
            return
        }
        #expect(error.description == """
            v.yaml:1:1: error: missing "containers" (a spec runs at least one container)
            v.yaml:1:10: error: version: version 2 is not supported; this berth reads version 1
            """)
        #expect(error.source == Array("version: 2\n".utf8))
    }

    @Test("standard input needs a project")
    func stdinNeedsProject() throws {
        let text = "version: 1\ncontainers:\n  a: {rootfs: ./r, command: [a]}\n"
        let found = diagnostics(text, fileName: SpecLoader.stdinName)
        #expect(found.count == 1)
        #expect(found.first?.description == "<stdin>:1:1: error: project: missing \"project\", which a spec read from standard input must set (add e.g. `project: demo`)")
        let spec = try load("project: p\n" + text, fileName: SpecLoader.stdinName)
        #expect(spec.project == "p")
    }

    @Test("all problems at once, sorted in source order, compiler style")
    func allAtOnce() {
        let found = diagnostics("""
            version: 1
            containers:
              web:
                rootfs: ./r
                command: [a]
                resources:
                  memory: 12Zi
                  cpus: 0
              api:
                rootfs: ./r
                comand: [a]
            networks:
              front: {subnet: 10.88.1.7/24}
            """)
        #expect(found.map(\.description) == [
            "demo.yaml:7:15: error: containers.web.resources.memory: \"12Zi\" is not a size (use e.g. 128Mi)",
            "demo.yaml:8:13: error: containers.web.resources.cpus: \"0\" is not more than 0 (use cores such as 0.5 or 2, or millicores such as \"500m\")",
            "demo.yaml:9:3: error: containers.api: missing \"command\" (add e.g. `command: [\"/bin/sh\", \"-c\", \"sleep 3600\"]`)",
            "demo.yaml:11:5: error: containers.api.comand: unknown key \"comand\" in a container (did you mean \"command\"?)",
            "demo.yaml:13:19: error: networks.front.subnet: \"10.88.1.7/24\" has host bits set (the network is 10.88.1.0/24)",
        ])
    }

    @Test("a diagnostic without a position or path prints without them")
    func descriptionForms() {
        let whole = Diagnostic(file: "x.yaml", location: .file, path: "", message: "the file is empty")
        #expect(whole.description == "x.yaml: error: the file is empty")
        let syntax = Diagnostic(file: "x.yaml", location: SourceLocation(line: 2, column: 3), path: "", message: "bad", hint: "fix")
        #expect(syntax.description == "x.yaml:2:3: error: bad (fix)")
    }

    @Test("an empty or blank file, a directory, a missing file")
    func files() throws {
        #expect(diagnostics("").map(\.description) == ["demo.yaml: error: the file is empty (a spec needs at least `version: 1` and `containers:`)"])
        #expect(diagnostics(" \n\n\t\n").first?.message == "the file is empty")
        guard case .failure(let missing) = SpecLoader.load(path: "/nonexistent/berth/spec.yaml") else {
            Issue.record("a missing file loads")
            return
        }
        #expect(missing.diagnostics.map(\.description) == ["/nonexistent/berth/spec.yaml: error: cannot read: No such file or directory"])
        guard case .failure(let directory) = SpecLoader.load(path: "/tmp") else {
            Issue.record("a directory loads")
            return
        }
        #expect(directory.diagnostics.first?.message == "is a directory, not a spec file")
    }

    @Test("a file on disk: relative paths resolve against its directory, its name gives the project")
    func fileOnDisk() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-loader-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("my-app.yml")
        try "version: 1\ncontainers:\n  a:\n    rootfs: ../rootfs\n    command: [a]\n    mounts: [{source: data, target: /d}]\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let spec = try SpecLoader.load(path: file.path).get()
        #expect(spec.project == "my-app")
        #expect(spec.containers[0].rootfs == directory.deletingLastPathComponent().appendingPathComponent("rootfs").path)
        #expect(spec.containers[0].mounts == [.bind(source: directory.appendingPathComponent("data").path, target: "/d", readOnly: false)])
    }

    @Test("a file larger than the limit is refused before parsing")
    func tooLarge() {
        let bytes = [UInt8](repeating: UInt8(ascii: "#"), count: SpecLoader.maxFileSize + 1)
        guard case .failure(let error) = SpecLoader.load(bytes: bytes, fileName: "big.yaml", baseDirectory: "/") else {
            Issue.record("a huge file loads")
            return
        }
        #expect(error.diagnostics.first?.message.contains("larger than 16 MiB") == true)
    }

    @Test("the model round-trips through Codable")
    func codable() throws {
        let url = Repository.specs.appendingPathComponent("demo.yaml")
        let spec = try SpecLoader.load(path: url.path).get()
        let data = try JSONEncoder().encode(spec)
        #expect(try JSONDecoder().decode(Spec.self, from: data) == spec)
    }

    @Test("the demo spec: what the demo relies on")
    func demo() throws {
        let url = Repository.specs.appendingPathComponent("demo.yaml")
        let spec = try SpecLoader.load(path: url.path).get()
        #expect(spec.project == "demo")
        #expect(spec.containers.map(\.name) == ["web", "client", "ticker"])
        // The image `make run` packs with umoci (specs/images/busybox).
        let layout = Repository.specs.appendingPathComponent("images/busybox").path
        #expect(spec.containers.allSatisfy { $0.image == .ociLayout(path: layout, selector: .tag("latest")) && $0.rootfs.isEmpty })
        #expect(spec.containers[0].command.last?.contains("httpd -f -p 8080") == true)
    }
}
