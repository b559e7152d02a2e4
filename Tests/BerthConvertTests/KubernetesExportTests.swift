import BerthSpec
import Foundation
import Testing
@testable import BerthConvert

/// `berth export kubernetes`: every manifest set passes `kubernetes-validate --strict`
/// (PyPI, installed by `make deps`), and fields without an equivalent are warnings.
@Suite struct KubernetesExportTests {
    /// The Kubernetes version the manifests target.
    static let kubernetesVersion = "1.30.0"

    static func validator() -> String? {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
        // pip puts it beside its Python: on PATH, or in pyenv's shims, or ~/.local/bin.
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/local/bin", "\(home)/.pyenv/shims", "\(home)/.local/bin"] {
            let candidate = "\(dir)/kubernetes-validate"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Writes the manifests into a fresh directory and runs the strict validator on them.
    func validate(_ export: KubernetesExport, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        guard let tool = Self.validator() else {
            Issue.record("kubernetes-validate is not installed: run `make deps`", sourceLocation: sourceLocation)
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-k8s-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for m in export.manifests { try m.yaml.write(toFile: "\(dir)/\(m.fileName)", atomically: true, encoding: .utf8) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--strict", "-k", Self.kubernetesVersion] + export.manifests.map { "\(dir)/\($0.fileName)" }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)", sourceLocation: sourceLocation)
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("INFO") && $0.contains(" passed for resource ") }.count == export.manifests.count,
                "every manifest was validated: \(text)", sourceLocation: sourceLocation)
    }

    func spec(_ yaml: String) throws -> Spec {
        try SpecLoader.load(text: yaml, fileName: "demo.yaml", baseDirectory: "/srv").get()
    }

    @Test func everyKindValidatesStrictly() throws {
        let spec = try spec("""
            version: 1
            networks:
              back: {subnet: 10.88.2.0/24, mtu: 1400}
            volumes:
              pgdata: {}
            containers:
              db:
                image: postgres:16
                user: "70:70"
                env: {POSTGRES_DB: shop}
                networks: {back: {ip: 10.88.2.10}}
                resources: {memory: 1.5Gi, cpus: 0.5, cpuWeight: 100, pids: 64, cpuset: "0", memorySwap: 0}
                capabilities: {drop: [ALL], add: [CHOWN, SETUID, SETGID]}
                readOnlyRootfs: true
                stopTimeout: 1m30s
                mounts:
                  - {volume: pgdata, target: /var/lib/postgresql/data}
                  - {type: tmpfs, target: /run, size: 64Mi}
                  - {source: /etc/ssl/certs, target: /etc/ssl/certs, readOnly: true}
              migrate:
                image: registry.example.com/shop/app:1.4
                entrypoint: [/app/manage]
                command: [migrate]
                restart: on-failure
                networks: {back: {}}
              probe:
                image: busybox
                command: [sh, -c, "true"]
                restart: never
                namespaces: [uts, ipc, pid, mount]
                dns: [10.0.0.2]
            """)
        let export = try KubernetesExporter().export(spec)
        #expect(export.manifests.map { "\($0.kind)/\($0.name)" } == [
            "PersistentVolumeClaim/pgdata", "NetworkPolicy/back", "Service/db", "Service/migrate", "Service/probe",
            "Deployment/db", "Job/migrate", "Job/probe",
        ])
        try validate(export)
        let db = try #require(export.manifests.first { $0.kind == "Deployment" }?.yaml)
        #expect(db.contains("type: Recreate"), "a pod with a volume is replaced, not rolled")
        #expect(db.contains("memory: \"1536Mi\""))
        #expect(db.contains("cpu: \"500m\""))
        #expect(db.contains("cpu: \"2537m\""), "cpuWeight 100 = shares 2598 by the runtime's formula = 2537m by the kubelet's")
        #expect(db.contains("runAsUser: 70") && db.contains("runAsGroup: 70"))
        #expect(db.contains("drop: [ALL]") && db.contains("add: [CHOWN, SETUID, SETGID]"))
        #expect(db.contains("readOnlyRootFilesystem: true") && db.contains("allowPrivilegeEscalation: false"))
        #expect(db.contains("terminationGracePeriodSeconds: 90"))
        #expect(db.contains("medium: Memory") && db.contains("sizeLimit: \"64Mi\""))
        #expect(db.contains("claimName: pgdata"))
        #expect(db.contains("berth.network/back: \"true\""))
        let migrate = try #require(export.manifests.first { $0.name == "migrate" && $0.kind == "Job" }?.yaml)
        #expect(migrate.contains("command: [/app/manage]") && migrate.contains("args: [migrate]"), "entrypoint -> command, command -> args")
        #expect(migrate.contains("restartPolicy: OnFailure"))
        let probe = try #require(export.manifests.first { $0.name == "probe" && $0.kind == "Job" }?.yaml)
        #expect(probe.contains("hostNetwork: true") && probe.contains("dnsPolicy: None"))
        let service = try #require(export.manifests.first { $0.kind == "Service" }?.yaml)
        #expect(service.contains("clusterIP: None"), "headless, so that names resolve between pods")
        #expect(export.warnings.map(\.path) == [
            "networks.back.masquerade", "networks.back.mtu", "containers.db.image", "containers.db.resources.pids",
            "containers.db.resources.cpuset", "containers.db.resources.memorySwap", "containers.db.mounts[2]",
            "containers.db.networks.back.ip", "containers.migrate.image", "containers.probe.image",
        ])
        #expect(export.warnings[2].message.contains("is not in berth's image store, so its ExposedPorts are not read"))
    }

    @Test func localImagesAndRootfsAreErrorsThatSayToPush() throws {
        let spec = try spec("""
            version: 1
            containers:
              a: {image: "oci:/srv/images/web:1.0"}
              b: {rootfs: ./rootfs, command: [/bin/true]}
            """)
        #expect(throws: KubernetesExportError.self) { try KubernetesExporter().export(spec) }
        do {
            _ = try KubernetesExporter().export(spec)
        } catch {
            #expect(error.problems.map(\.path) == ["containers.a.image", "containers.b.rootfs"])
            #expect(error.problems[0].message.contains("push it to a registry"))
        }
    }

    @Test func probesWaitsPortsAndHardeningValidateStrictly() throws {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("berth-seccomp-\(UUID().uuidString).json").path
        try #"{"defaultAction": "SCMP_ACT_ALLOW"}"#.write(toFile: profile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let spec = try spec("""
            version: 1
            project: shop
            networks:
              back: {subnet: 10.88.3.0/24}
            containers:
              db:
                image: postgres:16
                user: postgres
                networks: {back: {}}
                healthcheck:
                  test: ["CMD", "pg_isready", "-U", "postgres"]
                  interval: 5s
                  timeout: 1500ms
                  retries: 5
                  startPeriod: 10s
                  startInterval: 1s
                sysctls: {net.ipv4.ip_unprivileged_port_start: "0", net.core.somaxconn: "1024"}
                ulimits: {nofile: 4096}
                devices: [/dev/fuse]
                security: {seccomp: unconfined}
              migrate:
                image: registry.example.com/shop/app:1.4
                command: [migrate]
                restart: never
                networks: {back: {}}
                dependsOn: {db: {condition: healthy}}
                security: {seccomp: \(profile)}
                noNewPrivileges: false
              app:
                image: registry.example.com/shop/app:1.4
                pull: always
                networks: {back: {}}
                ports: ["8080:8000", "127.0.0.1:5353:53/udp"]
                healthcheck: {test: ["CMD-SHELL", "wget -q -O /dev/null http://localhost:8000/"], onUnhealthy: none}
                dependsOn:
                  migrate: {condition: completed}
                  db: {condition: started, restart: true}
                stopTimeout: 30s
            """)
        // The image store knows the app's image: it exposes 8000 and 9090.
        let exporter = KubernetesExporter(imageFacts: { source in
            source.description.contains("shop/app")
                ? ImageFacts(exposedPorts: [ExposedPort(port: 8000), ExposedPort(port: 9090)]) : nil
        })
        let export = try exporter.export(spec)
        #expect(export.manifests.map { "\($0.kind)/\($0.name)" } == [
            "ServiceAccount/berth-job-waiter", "Role/berth-job-waiter", "RoleBinding/berth-job-waiter",
            "NetworkPolicy/back", "Service/db", "Service/migrate", "Service/app", "Deployment/db", "Deployment/app", "Job/migrate",
        ])
        try validate(export)
        func yaml(_ kind: String, _ name: String) throws -> String {
            try #require(export.manifests.first { $0.kind == kind && $0.name == name }?.yaml)
        }
        let db = try yaml("Deployment", "db")
        #expect(db.contains("""
                      readinessProbe:
                        exec:
                          command: [pg_isready, "-U", postgres]
                        initialDelaySeconds: 10
                        periodSeconds: 5
                        timeoutSeconds: 2
                        failureThreshold: 5
            """), "interval, startPeriod, timeout (1.5s rounded up), retries: \(db)")
        #expect(db.contains("livenessProbe:"), "onUnhealthy restart (the default) is a liveness probe too")
        #expect(db.contains("type: Unconfined"))
        #expect(db.contains("name: net.ipv4.ip_unprivileged_port_start") && !db.contains("somaxconn"), "safe sysctls only")
        #expect(!db.contains("runAsUser"), "a user name berth could not resolve is left to the image")
        let app = try yaml("Deployment", "app")
        #expect(app.contains("imagePullPolicy: Always"))
        #expect(app.contains("readinessProbe:") && !app.contains("livenessProbe:"), "onUnhealthy none: readiness only")
        #expect(app.contains("command: [/bin/sh, \"-c\", \"wget -q -O /dev/null http://localhost:8000/\"]"), "CMD-SHELL: \(app)")
        #expect(app.contains("containerPort: 8000\n              hostPort: 8080"), "\(app)")
        #expect(app.contains("hostIP: \"127.0.0.1\""))
        #expect(app.contains("containerPort: 9090"), "the image's ExposedPorts")
        #expect(app.contains("serviceAccountName: berth-job-waiter"))
        #expect(app.contains("command: [kubectl, wait, \"--for=condition=complete\", job/migrate, \"--timeout=10m\"]"), "\(app)")
        #expect(app.contains("name: wait-db") && app.contains("value: \"db.$(NAMESPACE).svc.cluster.local\""), "\(app)")
        #expect(app.contains("terminationGracePeriodSeconds: 30"))
        let appService = try yaml("Service", "app")
        #expect(!appService.contains("clusterIP: None"))
        #expect(appService.contains("name: tcp-8000") && appService.contains("name: udp-53") && appService.contains("name: tcp-9090"), "\(appService)")
        #expect(try yaml("Service", "db").contains("clusterIP: None"), "no ports known: headless")
        let migrate = try yaml("Job", "migrate")
        #expect(!migrate.contains("allowPrivilegeEscalation"), "noNewPrivileges false leaves Kubernetes' default")
        #expect(migrate.contains("type: Localhost") && migrate.contains("localhostProfile:"))
        #expect(export.warnings.map(\.path) == [
            "networks.back.masquerade", "containers.db.image", "containers.db.healthcheck.startInterval", "containers.db.user",
            "containers.db.sysctls.net.core.somaxconn", "containers.db.ulimits", "containers.db.devices",
            "containers.migrate.security.seccomp", "containers.app.dependsOn.migrate", "containers.app.dependsOn.db.restart",
        ], "\(export.warnings.map(\.description).joined(separator: "\n"))")
    }

    @Test("round trip: Compose in, Kubernetes out, strictly valid",
          arguments: ["web-app-db-cache.yaml", "reverse-proxy.yaml", "migration-gate.yaml", "every-key.yaml", "migration-run.yaml"])
    func roundTrip(_ name: String) throws {
        let path = "\(ComposeImportTests.corpus)/\(name)"
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let imported = try ComposeImporter(environment: [:]).convert(bytes: bytes, fileName: name, directory: ComposeImportTests.corpus)
        let spec = try SpecLoader.load(text: imported.spec, fileName: "converted.yaml", baseDirectory: "/srv").get()
        let export = try KubernetesExporter().export(spec)
        #expect(export.manifests.filter { $0.kind == "Service" }.count == spec.containers.count)
        try validate(export)
    }
}
