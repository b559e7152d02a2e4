import Foundation
import Berth
import Testing

extension ImageFixtures {
    /// An OCI layout (umoci: busybox) whose image `app` has a Docker HEALTHCHECK in its
    /// config, written the way `docker build` writes one (nanoseconds): umoci has no
    /// option for it, so Python edits the config and re-links the manifest and index.
    func layoutWithHealthcheck(_ healthcheck: String) throws -> String {
        try Self.sh("""
            umoci init --layout layout
            umoci new --image layout:app
            umoci unpack --image layout:app bundle
            r=bundle/rootfs
            mkdir -p $r/bin $r/proc $r/dev $r/sys $r/tmp $r/etc && chmod 1777 $r/tmp
            cp /bin/busybox $r/bin/busybox
            for a in sh echo sleep test cat; do ln -s busybox $r/bin/$a; done
            umoci repack --refresh-bundle --image layout:app bundle
            umoci config --image layout:app --config.cmd 'sleep' --config.cmd '1000'
            rm -rf bundle
            python3 - <<'PY'
            import hashlib, json, os
            def blob(d): return os.path.join('layout/blobs', *d.split(':'))
            def put(data):
                d = 'sha256:' + hashlib.sha256(data).hexdigest()
                open(blob(d), 'wb').write(data)
                return d, len(data)
            index = json.load(open('layout/index.json'))
            desc = next(m for m in index['manifests'] if m['annotations']['org.opencontainers.image.ref.name'] == 'app')
            manifest = json.load(open(blob(desc['digest'])))
            config = json.load(open(blob(manifest['config']['digest'])))
            config['config']['Healthcheck'] = json.loads('''\(healthcheck)''')
            manifest['config']['digest'], manifest['config']['size'] = put(json.dumps(config).encode())
            desc['digest'], desc['size'] = put(json.dumps(manifest).encode())
            json.dump(index, open('layout/index.json', 'w'))
            PY
            umoci gc --layout layout
            """, in: directory)
        return directory + "/layout"
    }
}

/// The image's own Healthcheck (Docker image config) is the check of a container that
/// writes none; `test: ["NONE"]` turns it off.
@Suite("The image's Healthcheck", .enabled(if: geteuid() == 0, "needs root"))
struct ImageHealthcheckTests {
    @Test func theImagesCheckIsTheDefault() throws {
        let box = try Sandbox("image-health")
        defer { box.close() }
        let f = try ImageFixtures("image-health")
        defer { f.close() }
        // 200 ms, 2 s, 100 ms in nanoseconds, as docker build records `HEALTHCHECK --interval=200ms ...`.
        let layout = try f.layoutWithHealthcheck("""
            {"Test": ["CMD-SHELL", "echo from-image-check"], "Interval": 200000000, "Timeout": 2000000000,
             "Retries": 2, "StartInterval": 100000000}
            """)
        try box.write("""
            version: 1
            containers:
              checked:
                image: oci:\(layout):app
                namespaces: [uts, ipc, pid, mount]
              unchecked:
                image: oci:\(layout):app
                namespaces: [uts, ipc, pid, mount]
                healthcheck: {test: ["NONE"]}
              after:
                image: oci:\(layout):app
                namespaces: [uts, ipc, pid, mount]
                dependsOn: {checked: {condition: healthy}}
            """)
        let r = try box.run("apply", "-f", box.specPath, "--wait")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("container checked is healthy"), "\(r.stdout)")
        let checked = try #require(try box.container("checked")?["health"] as? [String: Any])
        #expect(checked["status"] as? String == "healthy", "\(checked)")
        let last = try #require((checked["log"] as? [[String: Any]])?.last)
        #expect(last["output"] as? String == "from-image-check\n" && last["exitCode"] as? Int == 0, "\(last)")
        #expect(try box.container("unchecked")?["health"] == nil)
        #expect(try box.container("unchecked")?["state"] as? String == "running")
        // The check comes from the image each time: plan sees no change.
        let plan = try box.plan("--detailed-exitcode")
        #expect(plan.status == 0, "\(plan.stdout)\(plan.stderr)")
        #expect(try box.plan().stdout.contains("No changes."))
    }
}

@Suite("Image Healthcheck to berth's")
struct ImageHealthConfigTests {
    typealias Config = Berth.OCI.ImageConfig.HealthConfig

    @Test func nanosecondsAndDockersDefaults() throws {
        let json = #"{"Test": ["CMD", "pg_isready", "-U", "postgres"], "Interval": 5000000000, "StartPeriod": 1500000}"#
        let check = try #require(try JSONDecoder().decode(Config.self, from: Data(json.utf8)).healthcheck)
        #expect(check.test == .command(["pg_isready", "-U", "postgres"]))
        #expect(check.interval.milliseconds == 5000 && check.startPeriod.milliseconds == 2)
        // Absent or 0: Docker's defaults.
        #expect(check.timeout.milliseconds == 30_000 && check.retries == 3 && check.startInterval.milliseconds == 5000)
    }

    @Test(arguments: [#"{"Test": ["NONE"]}"#, #"{"Test": []}"#, #"{}"#, #"{"Test": ["CMD"]}"#])
    func noCheck(_ json: String) throws {
        #expect(try JSONDecoder().decode(Config.self, from: Data(json.utf8)).healthcheck == nil)
    }
}
