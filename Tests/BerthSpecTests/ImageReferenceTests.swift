import Testing
@testable import BerthSpec

@Suite("Image references")
struct ImageReferenceTests {
    static let digest = "sha256:" + String(repeating: "0123456789abcdef", count: 4)

    @Test("references normalise as docker pull reads them", arguments: [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("host:5000/a/b", "host:5000/a/b:latest"),
        ("localhost/app", "localhost/app:latest"),
        ("Registry/app", "Registry/app:latest"),
        ("ghcr.io/o/r/deep/name:v1.2_3-rc", "ghcr.io/o/r/deep/name:v1.2_3-rc"),
        ("quay.io/a.b__c--d/e:t", "quay.io/a.b__c--d/e:t"),
        ("[::1]:5000/app:1", "[::1]:5000/app:1"),
    ])
    func normalises(_ written: String, _ normal: String) throws {
        #expect(try ImageReference(parsing: written).description == normal)
    }

    @Test("a digest wins: the tag is kept for display, no latest is added")
    func digestWins() throws {
        let both = try ImageReference(parsing: "host:5000/a/b:1.0@\(Self.digest)")
        #expect(both.domain == "host:5000")
        #expect(both.repository == "a/b")
        #expect(both.tag == "1.0")
        #expect(both.digest == Self.digest)
        let only = try ImageReference(parsing: "postgres@\(Self.digest)")
        #expect(only.tag == nil)
        #expect(only.description == "docker.io/library/postgres@\(Self.digest)")
    }

    @Test("the parts of a reference are split where the grammar says")
    func parts() throws {
        let r = try ImageReference(parsing: "localhost:5000/team/app:2")
        #expect(r.domain == "localhost:5000")
        #expect(r.repository == "team/app")
        #expect(r.tag == "2")
        #expect(r.name == "localhost:5000/team/app")
    }

    @Test("malformed references are refused with the reason", arguments: [
        ("", ImageReferenceError.empty),
        (":tag", .empty),
        ("Nginx", .badComponent("Nginx")),
        ("nginx:-1", .badTag("-1")),
        ("nginx:.x", .badTag(".x")),
        ("nginx:" + String(repeating: "t", count: 129), .badTag(String(repeating: "t", count: 129))),
        ("nginx@sha256:abc", .badDigest("sha256:abc")),
        ("nginx@md5:0123", .badDigest("md5:0123")),
        ("a//b", .badComponent("")),
        ("a/b_/c", .badComponent("b_")),
        ("a/b___c", .badComponent("b___c")),
        ("-bad.io/x", .badDomain("-bad.io")),
        ("host:99999999/x", .badDomain("host:99999999")),
        ("host:/x", .badDomain("host:")),
        ("docker.io/" + String(repeating: "a", count: 250), .nameTooLong(260)),
    ])
    func refuses(_ written: String, _ expected: ImageReferenceError) {
        #expect(throws: expected) { try ImageReference(parsing: written) }
    }

    @Test("image sources: transports, paths resolved, selectors")
    func sources() throws {
        let resolve: (String) -> String = { $0.hasPrefix("/") ? $0 : "/spec/" + $0 }
        #expect(try ImageSource(parsing: "oci:images/web:1.0", resolve: resolve) == .ociLayout(path: "/spec/images/web", selector: .tag("1.0")))
        #expect(try ImageSource(parsing: "oci:/l@\(Self.digest)", resolve: resolve) == .ociLayout(path: "/l", selector: .digest(Self.digest)))
        #expect(try ImageSource(parsing: "oci:/l", resolve: resolve) == .ociLayout(path: "/l", selector: nil))
        #expect(try ImageSource(parsing: "oci-archive:w.tar:2", resolve: resolve) == .ociArchive(path: "/spec/w.tar", selector: .tag("2")))
        #expect(try ImageSource(parsing: "docker-archive:pg.tar:postgres:16", resolve: resolve) == .dockerArchive(path: "/spec/pg.tar", name: "postgres:16"))
        #expect(try ImageSource(parsing: "docker-archive:/pg.tar", resolve: resolve) == .dockerArchive(path: "/pg.tar", name: nil))
        #expect(try ImageSource(parsing: "docker://redis:7", resolve: resolve) == .registry(try ImageReference(parsing: "redis:7")))
        #expect(try ImageSource(parsing: "redis", resolve: resolve).description == "docker.io/library/redis:latest")
        #expect(ImageSource.registry(try ImageReference(parsing: "redis")).localPath == nil)
    }

    @Test("a spec with an image loads; command and entrypoint are kept as written")
    func specWithImage() throws {
        let text = """
            version: 1
            containers:
              web:
                image: oci:./images/web:1.0
                entrypoint: [/bin/httpd]
                command: ["-f"]
              cache:
                image: redis:7
            """
        let spec = try SpecLoader.load(text: text, fileName: "demo.yaml", baseDirectory: "/srv/specs").get()
        let web = try #require(spec.container(named: "web"))
        #expect(web.image == .ociLayout(path: "/srv/specs/images/web", selector: .tag("1.0")))
        #expect(web.rootfs == "")
        #expect(web.entrypoint == ["/bin/httpd"])
        #expect(web.command == ["-f"])
        let cache = try #require(spec.container(named: "cache"))
        #expect(cache.command == [])
        #expect(cache.entrypoint == nil)
    }
}
