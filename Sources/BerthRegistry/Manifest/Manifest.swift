import FoundationEssentials
import Glibc

/// The media types of the distribution protocol that berth reads.
public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    public static let dockerSchema1Unsigned = "application/vnd.docker.distribution.manifest.v1+json"

    /// The Accept header of a manifest request: every type berth can use, the indexes first so
    /// that a multi-platform tag answers with its index rather than a server-chosen platform.
    public static let manifestAccept = [ociIndex, dockerList, ociManifest, dockerManifest].joined(separator: ", ")

    static func isIndex(_ t: String) -> Bool { t == ociIndex || t == dockerList }
    static func isManifest(_ t: String) -> Bool { t == ociManifest || t == dockerManifest }
}

/// A content descriptor (OCI image spec, descriptor.md).
public struct Descriptor: Codable, Sendable, Equatable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]?
    public var urls: [String]?

    public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
    }
}

/// An image index or Docker manifest list.
struct ImageIndex: Codable, Sendable {
    var schemaVersion: Int
    var mediaType: String?
    var manifests: [Descriptor]
}

/// An image manifest (OCI or Docker schema 2): a config and its layers, bottom first.
public struct ImageManifest: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
}

/// os/architecture[/variant] of an image.
public struct Platform: Codable, Sendable, Equatable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?

    enum CodingKeys: String, CodingKey { case architecture, os, variant }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// `linux/arm64/v8`, `linux/amd64`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// The platform of this machine, in Go's names (as images name them).
    public static var host: Platform {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch machine {
        case "x86_64": return Platform(os: "linux", architecture: "amd64")
        case "aarch64", "arm64": return Platform(os: "linux", architecture: "arm64", variant: "v8")
        case "armv7l": return Platform(os: "linux", architecture: "arm", variant: "v7")
        case "armv6l": return Platform(os: "linux", architecture: "arm", variant: "v6")
        case "i386", "i686": return Platform(os: "linux", architecture: "386")
        case "ppc64le": return Platform(os: "linux", architecture: "ppc64le")
        case "s390x": return Platform(os: "linux", architecture: "s390x")
        case "riscv64": return Platform(os: "linux", architecture: "riscv64")
        default: return Platform(os: "linux", architecture: machine)
        }
    }

    /// Whether an image of platform `offered` runs here as `self` asks. A variant the index
    /// leaves out matches any; arm64's only variant is v8, so an absent one equals it.
    func accepts(_ offered: Platform) -> Bool {
        guard offered.os == os, offered.architecture == architecture else { return false }
        guard let wanted = variant, let theirs = offered.variant else { return true }
        return wanted == theirs
    }

    /// The first manifest of `index` that fits, preferring an exact variant match.
    func pick(from index: [Descriptor]) -> Descriptor? {
        let fitting = index.filter { d in d.platform.map(accepts) ?? false }
        return fitting.first { $0.platform?.variant == variant } ?? fitting.first
    }
}
