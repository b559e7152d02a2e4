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
            "3:12 services.web.restart", "3:12 services.app.restart", "11:5 services.web.ports",
            "12:5 services.web.depends_on", "18:5 services.app.build", "33:48 services.db.volumes[1]",
            "34:5 services.db.healthcheck", "41:5 services.db.sysctls",
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
        let db = try #require(spec.container(named: "db"))
        #expect(db.user == User(user: .name("postgres")))
        #expect(db.resources.memory?.bytes == 1536 << 20, "mem_limit 1.5g")
        #expect(db.stopTimeout.milliseconds == 90_000)
        #expect(db.capabilities.add == ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"])
        #expect(db.mounts.contains(.volume(name: "pgdata", target: "/var/lib/postgresql/data", readOnly: false)))
        #expect(db.mounts.contains(.tmpfs(target: "/run", size: ByteSize(bytes: 64 << 20), readOnly: false)))
        let cache = try #require(spec.container(named: "cache"))
        #expect(cache.readOnlyRootfs)
        #expect(cache.resources.cpuWeight == 1 + (510 * 9999) / 262_142, "cpu_shares by the shares-to-weight formula")
        #expect(cache.command == ["redis-server", "--save", "", "--appendonly", "no"])
        let web = try #require(spec.container(named: "web"))
        #expect(web.mounts == [.bind(source: "\(Self.corpus)/site", target: "/usr/share/nginx/html", readOnly: true)])
        #expect(result.spec.hasPrefix("# yaml-language-server: $schema="), "the schema modeline")
    }

    @Test func reverseProxyInFrontOfTwoServices() throws {
        let (result, spec) = try convert("reverse-proxy.yaml", environment: ["HOME": "/root"])
        #expect(positions(result) == [
            "9:5 services.proxy.ports", "24:9 services.api.environment.LOG_LEVEL",
            "34:9 services.docs.networks.edge.aliases", "35:5 services.docs.labels", "36:5 services.docs.container_name",
        ])
        #expect(result.warnings[1].message.contains("unset in this environment"))
        #expect(spec.network(named: "edge")?.mtu == 1400)
        let proxy = try #require(spec.container(named: "proxy"))
        #expect(proxy.command == ["--providers.file.filename=/etc/traefik/dynamic.yml", "--entrypoints.web.address=:80"])
        #expect(proxy.mounts == [.bind(source: "\(Self.corpus)/traefik/dynamic.yml", target: "/etc/traefik/dynamic.yml", readOnly: true)])
        let api = try #require(spec.container(named: "api"))
        #expect(api.env.map(\.name) == ["API_KEY", "PORT", "REGION"], "env_file is read, comments and export skipped")
        #expect(api.env.first { $0.name == "REGION" }?.value == "eu-west")
        #expect(api.workdir == "/srv/api")
        #expect(api.stopSignal.name == "SIGINT")
        #expect(try convert("reverse-proxy.yaml", environment: ["LOG_LEVEL": "debug"]).1
            .container(named: "api")?.env.first { $0.name == "LOG_LEVEL" }?.value == "debug", "a bare name takes the environment's value")
    }

    @Test func aMigrationGatingTheApp() throws {
        let (result, spec) = try convert("migration-gate.yaml")
        #expect(positions(result) == [
            "12:5 services.app.depends_on", "15:14 services.app.restart", "17:10 services.app.dns",
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
        #expect(app.dns == [IPv4Address("10.0.0.2")!])
        #expect(app.resources.memorySwap?.bytes == 256 << 20, "memswap_limit 512m minus mem_limit 256m")
        #expect(app.resources.cpus?.millicores == 1250)
        #expect(app.resources.cpuset?.cpus == [0, 1])
        let worker = try #require(spec.container(named: "worker"))
        #expect(worker.mounts.first == .tmpfs(target: "/tmp", size: nil, readOnly: false))
        #expect(worker.mounts.contains(.bind(source: "\(Self.corpus)/shared", target: "/shared", readOnly: false)))
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
