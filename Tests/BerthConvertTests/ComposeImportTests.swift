import BerthSpec
import Foundation
import Testing
@testable import BerthConvert

/// `berth import compose` on Compose files as people write them: each converts with exactly
/// the warnings listed (line:col and key path), and the spec it writes validates.
@Suite struct ComposeImportTests {
    static let corpus = Bundle.module.resourceURL!.appendingPathComponent("Corpus").path

    func convert(_ name: String, environment: [String: String] = [:]) throws -> (ComposeImport, Spec) {
        let path = "\(Self.corpus)/\(name)"
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let result = try ComposeImporter(environment: environment).convert(bytes: bytes, fileName: name, directory: Self.corpus)
        switch SpecLoader.load(text: result.spec, fileName: "converted.yaml", baseDirectory: "/srv") {
        case .success(let spec): return (result, spec)
        case .failure(let error):
            Issue.record("the spec converted from \(name) does not validate:\n\(error)\n\(result.spec)")
            throw error
        }
    }

    /// `line:col path` of every warning.
    func positions(_ result: ComposeImport) -> [String] {
        result.warnings.map { "\($0.location) \($0.path)" }
    }

    @Test func webAppWithDatabaseAndCache() throws {
        let (result, spec) = try convert("web-app-db-cache.yaml", environment: [:])
        #expect(positions(result) == [
            "3:12 services.web.restart", "3:12 services.app.restart", "18:5 services.app.build", "36:48 services.db.volumes[1]",
        ])
        #expect(spec.project == "shop")
        #expect(spec.networks.map(\.name) == ["front", "back"])
        #expect(spec.network(named: "back")?.subnet.description == "172.28.0.0/24")
        #expect(spec.volumes.map(\.name) == ["pgdata", "db-1"])
        let app = try #require(spec.container(named: "app"))
        #expect(app.command == ["gunicorn", "-b", "0.0.0.0:8000", "app:create()"], "a string command is split as a shell would")
        #expect(app.env.first { $0.name == "DATABASE_URL" }?.value == "postgres://db/shop", "${DB_NAME:-shop}")
        #expect(app.env.first { $0.name == "SECRET" }?.value == "${NOT_INTERPOLATED}", "$$ is a literal $")
        #expect(app.resources.memory?.bytes == 512 << 20)
        #expect(app.resources.cpus?.millicores == 500)
        #expect(app.resources.pids == 100)
        #expect(app.networks == [NetworkAttachment(network: "front"), NetworkAttachment(network: "back", ip: IPv4Address("172.28.0.10"))])
        #expect(app.logging.maxFiles == 3, "merged from the x- anchor")
        #expect(app.dependsOn == [Dependency(name: "db", condition: .healthy), Dependency(name: "cache")])
        let db = try #require(spec.container(named: "db"))
        #expect(db.user == User(user: .name("postgres")))
        #expect(db.resources.memory?.bytes == 1536 << 20, "mem_limit 1.5g")
        #expect(db.stopTimeout.milliseconds == 90_000)
        #expect(db.capabilities.add == ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"])
        #expect(db.mounts.contains(.volume(name: "pgdata", target: "/var/lib/postgresql/data", readOnly: false)))
        #expect(db.mounts.contains(.tmpfs(target: "/run", size: ByteSize(bytes: 64 << 20), readOnly: false)))
        #expect(db.healthcheck == Healthcheck(test: .command(["pg_isready"]), interval: TimeSpan(milliseconds: 5000),
                                              timeout: TimeSpan(milliseconds: 3000), retries: 5, startPeriod: TimeSpan(milliseconds: 10_000)))
        #expect(db.ports.map(\.description) == ["127.0.0.1:5432:5432/tcp"])
        #expect(db.sysctls == [SysctlSetting(name: "net.core.somaxconn", value: "1024")])
        let cache = try #require(spec.container(named: "cache"))
        #expect(cache.readOnlyRootfs)
        #expect(cache.resources.cpuWeight == 1 + (510 * 9999) / 262_142, "cpu_shares by the shares-to-weight formula")
        #expect(cache.command == ["redis-server", "--save", "", "--appendonly", "no"])
        let web = try #require(spec.container(named: "web"))
        #expect(web.ports.map(\.description) == ["8080:80/tcp"] && web.dependsOn == [Dependency(name: "app")])
        #expect(web.mounts == [.bind(source: "\(Self.corpus)/site", target: "/usr/share/nginx/html", readOnly: true)])
        #expect(result.spec.hasPrefix("# yaml-language-server: $schema="), "the schema modeline")
    }

    @Test func reverseProxyInFrontOfTwoServices() throws {
        let (result, spec) = try convert("reverse-proxy.yaml", environment: ["HOME": "/root"])
        #expect(positions(result) == [
            "26:9 services.api.environment.LOG_LEVEL", "39:9 services.docs.networks.edge.aliases",
            "40:5 services.docs.labels", "41:5 services.docs.container_name",
        ])
        #expect(result.warnings[0].message.contains("unset in this environment"))
        #expect(spec.network(named: "edge")?.mtu == 1400)
        let proxy = try #require(spec.container(named: "proxy"))
        #expect(proxy.ports.map(\.description) == ["80:80/tcp", "443:443/tcp"], "long and short syntax")
        #expect(proxy.dependsOn == [Dependency(name: "api"), Dependency(name: "docs")])
        #expect(proxy.command == ["--providers.file.filename=/etc/traefik/dynamic.yml", "--entrypoints.web.address=:80"])
        #expect(proxy.mounts == [.bind(source: "\(Self.corpus)/traefik/dynamic.yml", target: "/etc/traefik/dynamic.yml", readOnly: true)])
        let api = try #require(spec.container(named: "api"))
        #expect(api.env.map(\.name) == ["API_KEY", "PORT", "REGION"], "env_file is read, comments and export skipped")
        #expect(api.env.first { $0.name == "REGION" }?.value == "eu-west")
        #expect(api.workdir == "/srv/api")
        #expect(api.stopSignal.name == "SIGINT")
        #expect(api.healthcheck?.test == .shell("wget -q -O /dev/null http://localhost:8080/health"))
        #expect(api.healthcheck?.interval.milliseconds == 15_000)
        #expect(try convert("reverse-proxy.yaml", environment: ["LOG_LEVEL": "debug"]).1
            .container(named: "api")?.env.first { $0.name == "LOG_LEVEL" }?.value == "debug", "a bare name takes the environment's value")
    }

    @Test func aMigrationGatingTheApp() throws {
        let (result, spec) = try convert("migration-gate.yaml")
        #expect(positions(result) == [
            "15:14 services.app.restart", "17:10 services.app.dns",
            "26:5 services.worker.profiles", "30:9 services.worker.volumes[1]", "34:5 volumes.cache.driver",
        ])
        let migrate = try #require(spec.container(named: "migrate"))
        #expect(migrate.restart == .never)
        #expect(migrate.entrypoint == ["/app/manage"])
        #expect(migrate.command == ["migrate", "--noinput"])
        #expect(migrate.env.first?.value == "postgres://db/shop", "from .env beside the Compose file")
        #expect(migrate.image?.description.contains("registry.example.com/shop/app:1.4.2") ?? false, "\(String(describing: migrate.image))")
        #expect(spec.network(named: "default") != nil, "services without networks join Compose's default network")
        let app = try #require(spec.container(named: "app"))
        #expect(!app.namespaces.contains(.network), "network_mode: host shares the host's network namespace")
        #expect(app.restart == .onFailure)
        #expect(app.dependsOn == [Dependency(name: "migrate", condition: .completed)], "the migration gates the app")
        #expect(app.dns == [IPv4Address("10.0.0.2")!])
        #expect(app.resources.memorySwap?.bytes == 256 << 20, "memswap_limit 512m minus mem_limit 256m")
        #expect(app.resources.cpus?.millicores == 1250)
        #expect(app.resources.cpuset?.cpus == [0, 1])
        let worker = try #require(spec.container(named: "worker"))
        #expect(worker.mounts.first == .tmpfs(target: "/tmp", size: nil, readOnly: false))
        #expect(worker.mounts.contains(.bind(source: "\(Self.corpus)/shared", target: "/shared", readOnly: false)))
    }

    @Test func everyKeyBerthMapsAndEveryOneItDoesNot() throws {
        let (result, spec) = try convert("every-key.yaml")
        #expect(result.warnings.map(\.description) == [
            "every-key.yaml:8:5: warning: services.gateway.logging.options.compress: not mapped",
            "every-key.yaml:18:9: warning: services.gateway.ports[4]: no host port: Compose picks a free one, berth publishes 9100 on the same host port",
            "every-key.yaml:19:9: warning: services.gateway.ports[5]: a host range for one container port: berth publishes on its first port, 9200",
            "every-key.yaml:20:9: warning: services.gateway.ports[6]: \"[::1]:9300:9300\": berth publishes on IPv4 addresses only; left out",
            "every-key.yaml:26:9: warning: services.gateway.ports[8]: protocol sctp: berth publishes tcp and udp; left out",
            "every-key.yaml:33:19: warning: services.gateway.depends_on.worker.required: berth has no optional dependencies: worker is in the spec and waited for",
            "every-key.yaml:40:9: warning: services.gateway.security_opt[2]: AppArmor profiles are not applied: berth confines with namespaces, capabilities and seccomp; left out",
            "every-key.yaml:50:5: warning: services.api.expose: not needed: containers on a network reach each other's ports (export reads the image's ExposedPorts)",
            "every-key.yaml:61:9: warning: services.api.sysctls.vm.swappiness: not namespaced: setting it would change the host, which berth never does for a container; left out",
            "every-key.yaml:66:16: warning: services.api.ulimits.memlock: needs both soft and hard; left out",
            "every-key.yaml:72:24: warning: services.worker.depends_on[1]: no service \"ghost\" in this file; left out",
            "every-key.yaml:76:9: warning: services.worker.devices[2]: berth binds a device at its host path: /dev/sda, not /dev/xvda",
            "every-key.yaml:77:9: warning: services.worker.devices[3]: berth passes device nodes under /dev only (no CDI names); left out",
            "every-key.yaml:81:5: warning: services.worker.privileged: berth does not run privileged containers; add the capabilities (and devices) it needs instead",
            "every-key.yaml:90:17: warning: services.seed.volumes[0].volume: nocopy: berth seeds an empty volume from the image",
            "every-key.yaml:101:13: warning: services.seed.ports: the container has no network of its own (network_mode), so nothing is published; left out",
        ], "\(result.warnings.map(\.description).joined(separator: "\n"))")
        let gateway = try #require(spec.container(named: "gateway"))
        #expect(gateway.entrypoint == ["/usr/bin/gateway", "--config", "/etc/gateway.yaml"])
        #expect(gateway.ports.map(\.description) == [
            "80:8080/tcp", "127.0.0.1:8443:8443/tcp", "5353:53/udp", "9000-9002:9000-9002/tcp", "9100:9100/tcp",
            "9200:9200/tcp", "127.0.0.1:9401:9400/udp",
        ])
        #expect(gateway.dependsOn == [
            Dependency(name: "api", condition: .healthy, restart: true), Dependency(name: "worker"),
            Dependency(name: "seed", condition: .completed),
        ])
        #expect(gateway.logging.maxSize.bytes == 5 << 20 && gateway.logging.maxFiles == 2, "json-file/local options")
        #expect(gateway.noNewPrivileges && gateway.security.seccomp == .unconfined)
        #expect(gateway.stopSignal.name == "SIGQUIT" && gateway.stopTimeout.milliseconds == 90_000)
        #expect(gateway.networks == [NetworkAttachment(network: "edge", ip: IPv4Address("10.89.7.10")), NetworkAttachment(network: "internal")])
        let api = try #require(spec.container(named: "api"))
        #expect(api.pull == .always)
        let check = try #require(api.healthcheck)
        #expect(check.test == .shell("curl -fsS http://localhost:8000/health || exit 1"), "a string test is CMD-SHELL")
        let timings: [Int] = [check.interval.milliseconds, check.timeout.milliseconds, check.startPeriod.milliseconds,
                              check.startInterval.milliseconds]
        #expect(timings == [10_000, 2_000, 60_000, 500])
        #expect(check.retries == 5)
        #expect(api.sysctls == [SysctlSetting(name: "net.core.somaxconn", value: "1024"), SysctlSetting(name: "net.ipv4.tcp_syncookies", value: "1")])
        #expect(api.ulimits.map(\.description) == ["core=unlimited", "nofile=20000:40000", "nproc=65535"])
        let worker = try #require(spec.container(named: "worker"))
        #expect(worker.healthcheck == nil, "disable: true")
        #expect(worker.devices == [DeviceAccess(path: "/dev/fuse"), DeviceAccess(path: "/dev/net/tun", access: "rw"),
                                   DeviceAccess(path: "/dev/sda", access: "r")])
        #expect(worker.dependsOn == [Dependency(name: "seed")])
        #expect(worker.pull == .missing)
        let seed = try #require(spec.container(named: "seed"))
        #expect(seed.restart == .never, "Compose's default restart, since gateway waits for it to complete")
        #expect(seed.ports.isEmpty && seed.networks.isEmpty, "network_mode: none")
        #expect(seed.mounts == [.volume(name: "data", target: "/var/lib/api", readOnly: false),
                                .tmpfs(target: "/scratch", size: ByteSize(bytes: 32 << 20), readOnly: false),
                                .bind(source: "\(Self.corpus)/seed", target: "/seed", readOnly: true)])
        #expect(result.spec.contains("# Compose's default (no): gateway waits for it to complete."))
    }

    @Test func theRunLayoutConvertsWithoutAWarning() throws {
        let (result, spec) = try convert("migration-run.yaml", environment: ["PROJECT": "run", "WEB_PORT": "18080", "SUBNET": "10.89.41.0/24"])
        #expect(result.warnings.isEmpty, "\(result.warnings)")
        #expect(spec.project == "run")
        let app = try #require(spec.container(named: "app"))
        #expect(app.ports.map(\.description) == ["127.0.0.1:18080:8080/tcp"])
        #expect(app.dependsOn == [Dependency(name: "migrate", condition: .completed)])
        #expect(app.pull == .never && app.image?.description.contains("shop/app:1.0") == true)
        #expect(spec.container(named: "migrate")?.restart == .never)
        #expect(spec.network(named: "default")?.subnet.description == "10.89.41.0/24")
    }

    @Test func theEnvironmentWinsOverDotEnvAndRequiredVariablesAreErrors() throws {
        let (_, spec) = try convert("migration-gate.yaml", environment: ["TAG": "2.0", "REGISTRY": "r.example"])
        #expect(spec.container(named: "app")?.image?.description.contains("r.example/shop/app:2.0") ?? false)
        // Without .env's DATABASE_URL, ${DATABASE_URL:?...} is an error at its line.
        let text = "services:\n  a:\n    image: x\n    environment:\n      URL: ${URL:?set URL}\n"
        #expect(throws: ComposeImportError.self) {
            try ComposeImporter(environment: [:]).convert(bytes: Array(text.utf8), fileName: "c.yaml", directory: "/nonexistent")
        }
        do {
            _ = try ComposeImporter(environment: [:]).convert(bytes: Array(text.utf8), fileName: "c.yaml", directory: "/nonexistent")
        } catch {
            #expect(error.diagnostics.map(\.description) == ["c.yaml:5:12: error: services.a.environment.URL: required variable URL is not set: set URL"])
        }
    }

    @Test func notAComposeFileIsTheOnlyError() throws {
        for text in ["version: 1\ncontainers: {a: {rootfs: ., command: [x]}}\n", "[1, 2]\n", "services: [a]\n", "a: [\n"] {
            #expect(throws: ComposeImportError.self, "\(text)") {
                try ComposeImporter(environment: [:]).convert(bytes: Array(text.utf8), fileName: "c.yaml", directory: "/")
            }
        }
        // Unknown keys are warnings, not errors, and not silence.
        let odd = "services:\n  a:\n    image: x\n    frobnicate: 1\nwhatever: {}\n"
        let result = try ComposeImporter(environment: [:]).convert(bytes: Array(odd.utf8), fileName: "c.yaml", directory: "/")
        #expect(result.warnings.map(\.description) == [
            "c.yaml:4:5: warning: services.a.frobnicate: unknown key, left out",
            "c.yaml:5:1: warning: whatever: unknown top-level key, left out",
        ])
    }

    /// One service's `ports:` entry, converted alone: berth's short form (nil: left out), and
    /// whether the import warns (a port berth cannot publish, or publishes differently).
    @Test("ports as Compose writes them", arguments: [
        ("\"8080:80\"", "8080:80", false), ("\"127.0.0.1:8443:443/tcp\"", "127.0.0.1:8443:443/tcp", false),
        ("\"5353:53/udp\"", "5353:53/udp", false), ("\"9000-9002:9000-9002\"", "9000-9002:9000-9002", false),
        ("\"0.0.0.0:80:80\"", "80:80", false),
        ("{target: 80, published: \"8081\", host_ip: 127.0.0.1, protocol: udp}", "127.0.0.1:8081:80/udp", false),
        ("{target: 80, published: 8082, mode: host}", "8082:80", false),
        ("9100", "9100:9100", true), ("\"127.0.0.1::80\"", "127.0.0.1:80:80", true), ("{target: 80}", "80:80", true),
        ("\"9200-9201:9200\"", "9200:9200", true),
        ("\"[::1]:80:80\"", nil, true), ("\"7000:7000/sctp\"", nil, true), ("\"80:70000\"", nil, true),
        ("{target: 80, published: 80, name: web}", "80:80", true),
    ] as [(String, String?, Bool)])
    func ports(_ entry: String, _ expected: String?, _ warns: Bool) throws {
        let text = "services:\n  a:\n    image: x\n    ports:\n      - \(entry)\n"
        let result = try ComposeImporter(environment: [:]).convert(bytes: Array(text.utf8), fileName: "c.yaml", directory: "/")
        let spec = try SpecLoader.load(text: result.spec, fileName: "converted.yaml", baseDirectory: "/").get()
        let want = try expected.map { [try PublishedPort.parse($0).get()] } ?? []
        #expect(spec.containers[0].ports == want, "\(result.spec)")
        #expect(result.warnings.isEmpty == !warns, "\(result.warnings)")
        #expect(result.warnings.allSatisfy { $0.location.line == 5 && $0.path.hasPrefix("services.a.ports[0]") }, "\(result.warnings)")
    }

    @Test("shell words as Compose splits string commands", arguments: [
        ("a b  c", ["a", "b", "c"]), ("sh -c 'echo $HOME'", ["sh", "-c", "echo $HOME"]),
        (#"a "b c" d\ e"#, ["a", "b c", "d e"]), (#"x "" y"#, ["x", "", "y"]),
    ])
    func shellWords(_ text: String, _ words: [String]) {
        #expect(ShellWords.split(text) == words)
    }

    @Test("interpolation", arguments: [
        ("${A}", "1"), ("$A-$B", "1-"), ("${B:-d}", "d"), ("${E:-d}", "d"), ("${E-d}", ""), ("${A:+x}", "x"),
        ("$$A", "$A"), ("${B:-${A}}", "1"), ("a$", "a$"), ("$1", "$1"),
    ])
    func interpolation(_ text: String, _ expected: String) throws {
        #expect(try Interpolation(environment: ["A": "1", "E": ""]).apply(text) == expected)
    }
}
