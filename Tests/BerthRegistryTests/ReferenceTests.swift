@testable import BerthRegistry
import Testing

@Suite struct ReferenceTests {
    static let hex = String(repeating: "ab", count: 32)

    @Test(arguments: [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("user/app:1", "docker.io/user/app:1"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
        ("localhost/app", "localhost/app:latest"),
        ("127.0.0.1:5000/team/app:v1.2-rc_3", "127.0.0.1:5000/team/app:v1.2-rc_3"),
        ("quay.io/a/b/c", "quay.io/a/b/c:latest"),
        ("host:5000/app@sha256:\(hex)", "host:5000/app@sha256:\(hex)"),
        ("host:5000/app:1@sha256:\(hex)", "host:5000/app:1@sha256:\(hex)"),
        ("my-registry.example.com/a__b/c.d-e", "my-registry.example.com/a__b/c.d-e:latest"),
    ])
    func normalised(text: String, full: String) throws {
        #expect(try RegistryReference(parsing: text).description == full)
    }

    @Test func digestWinsOverTag() throws {
        let r = try RegistryReference(parsing: "host:5000/app:1@sha256:\(Self.hex)")
        #expect(r.manifestReference == "sha256:\(Self.hex)")
        #expect(r.tag == "1")
        #expect(try RegistryReference(parsing: "host:5000/app:1").manifestReference == "1")
    }

    @Test func dockerHubSpeaksOnItsAPIHost() throws {
        #expect(try RegistryReference(parsing: "nginx").apiHost == "registry-1.docker.io")
        #expect(try RegistryReference(parsing: "127.0.0.1:5000/x").apiHost == "127.0.0.1:5000")
    }

    @Test(arguments: [
        "", "Nginx", "nginx:", "nginx:-x", "app@sha256:short", "app@md5:\(hex)", "a//b", "a/b/", "-a", "a-",
        "host:99999/app", "app:tag with space", "a..b", "app@sha256:\(String(repeating: "AB", count: 32))",
        String(repeating: "a", count: 300),
    ])
    func refused(text: String) {
        #expect(throws: RegistryError.self) { try RegistryReference(parsing: text) }
    }
}

@Suite struct PlatformTests {
    static func entry(_ arch: String, variant: String? = nil, os: String = "linux") -> Descriptor {
        Descriptor(mediaType: MediaType.ociManifest, digest: Digest("sha256:" + String(repeating: "0", count: 63) + "\(arch.count % 10)")!,
                   size: 1, platform: Platform(os: os, architecture: arch, variant: variant))
    }

    @Test func picksTheHostsArchitecture() {
        let index = [Self.entry("arm64", variant: "v8"), Self.entry("amd64"), Self.entry("amd64", os: "windows")]
        #expect(Platform(os: "linux", architecture: "amd64").pick(from: index)?.platform == Platform(os: "linux", architecture: "amd64"))
        #expect(Platform(os: "linux", architecture: "arm64", variant: "v8").pick(from: index)?.platform?.architecture == "arm64")
    }

    @Test func variantMustMatchWhenBothSayOne() {
        let index = [Self.entry("arm", variant: "v6"), Self.entry("arm", variant: "v7")]
        #expect(Platform(os: "linux", architecture: "arm", variant: "v7").pick(from: index)?.platform?.variant == "v7")
        #expect(Platform(os: "linux", architecture: "arm", variant: "v5").pick(from: index) == nil)
        #expect(Platform(os: "linux", architecture: "s390x").pick(from: index) == nil)
    }

    @Test func parses() {
        #expect(Platform(parsing: "linux/arm64/v8") == Platform(os: "linux", architecture: "arm64", variant: "v8"))
        #expect(Platform(parsing: "linux") == nil)
        #expect(Platform(parsing: "linux//v8") == nil)
    }
}
