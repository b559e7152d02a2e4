@testable import BerthRegistry
import Testing

@Suite struct ReferenceTests {
    static let hex = String(repeating: "ab", count: 32)

    @Test func digestWinsOverTag() throws {
        let r = try RegistryReference.registry("host:5000/app:1@sha256:\(Self.hex)")
        #expect(r.manifestReference == "sha256:\(Self.hex)")
        #expect(r.pinned?.hex == Self.hex)
        #expect(try RegistryReference.registry("host:5000/app:1").manifestReference == "1")
        #expect(try RegistryReference.registry("host:5000/app").manifestReference == "latest")
    }

    @Test func dockerHubSpeaksOnItsAPIHost() throws {
        #expect(try RegistryReference.registry("nginx").apiHost == "registry-1.docker.io")
        #expect(try RegistryReference.registry("127.0.0.1:5000/x").apiHost == "127.0.0.1:5000")
    }

    @Test func badReferenceIsARegistryError() {
        #expect(throws: RegistryError.invalidReference("Nginx:", reason: "\"\" is not a tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')")) {
            try RegistryReference.registry("Nginx:")
        }
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
