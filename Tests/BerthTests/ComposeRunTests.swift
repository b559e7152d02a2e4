import Foundation
import Testing

/// The convert corpus applied: a Compose file as people write it, imported with
/// `berth import compose`, applied on the real kernel with an image umoci built from
/// busybox-static, and exported for Kubernetes from the same image store.
@Suite(.enabled(if: geteuid() == 0, "needs root: creates cgroups, namespaces, bridges and nftables rules"))
struct ComposeRunTests {
    /// The corpus of the converter's tests, beside this suite's sources.
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BerthConvertTests/Corpus").path

    /// `shop/app:1.0`: busybox with sh, httpd and wget, a user `www` (1000:1000) as the
    /// image's User, and 8080/tcp among its ExposedPorts; imported into the sandbox's store.
    static func appImage(_ box: Sandbox, _ images: ImageFixtures) throws {
        try ImageFixtures.sh("""
            umoci init --layout layout
            umoci new --image layout:app
            umoci unpack --image layout:app bundle
            r=bundle/rootfs
            mkdir -p $r/bin $r/etc $r/proc $r/dev $r/sys $r/tmp $r/www $r/data && chmod 1777 $r/tmp
            cp /bin/busybox $r/bin/busybox
            for a in sh echo httpd wget test cat sleep id; do ln -s busybox $r/bin/$a; done
            printf 'root:x:0:0:root:/root:/bin/sh\\nwww:x:1000:1000:www:/www:/bin/sh\\n' > $r/etc/passwd
            printf 'root:x:0:\\nwww:x:1000:\\n' > $r/etc/group
            umoci repack --refresh-bundle --image layout:app bundle
            umoci config --image layout:app --config.user www --config.exposedports 8080/tcp --config.cmd sh
            rm -rf bundle
            umoci gc --layout layout
            """, in: images.directory)
        let imported = try box.run("image", "import", "oci:\(images.directory)/layout:app", "--name", "shop/app:1.0")
        #expect(imported.status == 0, "\(imported.stderr)")
    }

    @Test func theMigrationLayoutRunsTheJobFirstThenTheAppAnswersOnItsPublishedPort() throws {
        let box = try Sandbox("compose-run")
        defer { box.close() }
        let images = try ImageFixtures("compose-run")
        defer { images.close() }
        try Self.appImage(box, images)
        let port = try PortTests.freePort()
        let compose = box.directory + "/compose.yaml"
        try FileManager.default.copyItem(atPath: Self.corpus + "/migration-run.yaml", toPath: compose)

        let imported = try box.run(["import", "compose", compose, "-o", box.specPath], environment: [
            "PROJECT": box.project, "APP_IMAGE": "shop/app:1.0", "WEB_PORT": String(port), "SUBNET": try box.subnet(0).subnet,
        ])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(!imported.stderr.contains("warning:"), "every key of the file maps: \(imported.stderr)")
        let validated = try box.run("validate", "-f", box.specPath)
        #expect(validated.status == 0, "\(validated.stderr)")

        // The app refuses to start on an unmigrated volume (its command tests for the page),
        // so a page that answers shows the order as well as the job's work.
        try box.apply()
        let web = NetworkTests()
        #expect(try eventually(timeout: 20) { try web.fetch("http://127.0.0.1:\(port)/") == "migrated-42\n" },
                "the app serves what the job wrote, on 127.0.0.1:\(port)")
        let status = try box.status()
        let migrate = try #require(status.first { $0["name"] as? String == "migrate" })
        #expect(migrate["state"] as? String == "exited", "the job has ended: \(migrate)")
        #expect(try box.exec("app", "id", "-u").stdout == "1000\n", "the image's User www, resolved in the image")

        // The same spec for Kubernetes, with what berth's image store knows of the image.
        let exported = try box.run("export", "kubernetes", "-f", box.specPath)
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(!exported.stderr.contains("image store"), "the image is in the store: \(exported.stderr)")
        let app = try #require(exported.stdout.components(separatedBy: "---\n").first { $0.contains("kind: Deployment") })
        #expect(app.contains("runAsUser: 1000") && app.contains("runAsGroup: 1000"), "www resolved to numbers: \(app)")
        #expect(app.contains("containerPort: 8080") && app.contains("hostPort: \(port)"), "\(app)")
        #expect(app.contains("job/migrate"), "the app waits for the migration Job: \(app)")
        #expect(app.contains("readinessProbe:") && app.contains("livenessProbe:"), "\(app)")
    }
}
