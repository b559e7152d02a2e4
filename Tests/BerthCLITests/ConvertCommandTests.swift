import Foundation
import Testing

/// `berth import compose` and `berth export kubernetes` as a user runs them.
@Suite("berth import compose, berth export kubernetes, as processes")
struct ConvertCommandTests {
    let cli = ValidateProcessTests()

    @Test("import writes a spec that validates; warnings name Compose lines; exit 1 only for a non-Compose file",
          .enabled(if: ValidateProcessTests.berth != nil, "the berth executable is not built next to the tests"))
    func importCompose() throws {
        let dir = try SpecDirectory()
        let compose = try dir.write("compose.yaml", """
            services:
              web:
                image: nginx:${NGINX_TAG:-1.25}
                ports: ["8080:80"]
                volumes: [data:/usr/share/nginx/html]
                privileged: true
            volumes:
              data: {}
            """)
        let out = dir.url.appendingPathComponent("web.yaml").path
        let imported = try cli.run(["import", "compose", compose, "-o", out], environment: ["NGINX_TAG": "1.27"])
        #expect(imported.status == 0, "\(imported.err)")
        #expect(imported.err.contains("compose.yaml:6:5: warning: services.web.privileged: berth does not run privileged containers"), "\(imported.err)")
        #expect(!imported.err.contains("services.web.ports"), "ports map: \(imported.err)")
        let spec = try String(contentsOfFile: out, encoding: .utf8)
        #expect(spec.contains("image: \"nginx:1.27\""))
        #expect(spec.contains("ports: [\"8080:80\"]"), "\(spec)")
        let validated = try cli.run(["validate", "-f", out])
        #expect(validated.status == 0, "\(validated.err)")

        let notCompose = try dir.write("spec.yaml", validSpec)
        let refused = try cli.run(["import", "compose", notCompose])
        #expect(refused.status == 1)
        #expect(refused.err.contains("not a Compose file"), "\(refused.err)")
    }

    @Test("export writes one file per object into a directory, or one stream",
          .enabled(if: ValidateProcessTests.berth != nil, "the berth executable is not built next to the tests"))
    func exportKubernetes() throws {
        let dir = try SpecDirectory()
        let spec = try dir.write("shop.yaml", """
            version: 1
            volumes: {data: {}}
            containers:
              web:
                image: nginx:1.27
                mounts: [{volume: data, target: /usr/share/nginx/html}]
                resources: {pids: 10}
            """)
        let k8s = dir.url.appendingPathComponent("k8s").path
        // An empty image store of its own: the image's ExposedPorts are unknown, which it says.
        let state = dir.url.appendingPathComponent("state").path
        let written = try cli.run(["export", "kubernetes", "-f", spec, "-o", k8s, "--state-dir", state])
        #expect(written.status == 0, "\(written.err)")
        #expect(written.err.contains("berth: warning: containers.web.resources.pids"), "\(written.err)")
        #expect(written.err.contains("berth: warning: containers.web.image: docker.io/library/nginx:1.27 is not in berth's image store"), "\(written.err)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: k8s))
                == ["persistentvolumeclaim-data.yaml", "service-web.yaml", "deployment-web.yaml"])
        let stream = try cli.run(["export", "kubernetes", "-f", spec, "--state-dir", state])
        #expect(stream.out.components(separatedBy: "---\n").count == 4, "three documents")

        let local = try dir.write("local.yaml", "version: 1\ncontainers:\n  a: {rootfs: ./r, command: [x]}\n")
        let refused = try cli.run(["export", "kubernetes", "-f", local])
        #expect(refused.status == 1)
        #expect(refused.err.contains("berth: error: containers.a.rootfs: Kubernetes runs images"), "\(refused.err)")
    }
}
