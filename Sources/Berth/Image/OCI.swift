import FoundationEssentials
import Glibc

/// The JSON documents of the OCI image spec (and Docker's equivalents) that berth reads.
public enum OCI {
    public static let indexMediaType = "application/vnd.oci.image.index.v1+json"
    public static let manifestMediaType = "application/vnd.oci.image.manifest.v1+json"
    public static let configMediaType = "application/vnd.oci.image.config.v1+json"
    public static let layerMediaType = "application/vnd.oci.image.layer.v1.tar"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// The annotation an OCI layout's index names a manifest by (`oci:DIR:TAG`).
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"
    /// The annotation Docker and containerd put the full image name in.
    public static let imageNameAnnotation = "io.containerd.image.name"

    public struct Descriptor: Codable, Sendable, Equatable {
        public var mediaType: String?
        public var digest: String
        public var size: Int64
        public var annotations: [String: String]?
        public var platform: Platform?

        public init(mediaType: String?, digest: String, size: Int64, annotations: [String: String]? = nil, platform: Platform? = nil) {
            self.mediaType = mediaType
            self.digest = digest
            self.size = size
            self.annotations = annotations
            self.platform = platform
        }

        var isIndex: Bool { mediaType == OCI.indexMediaType || mediaType == OCI.dockerManifestList }
    }

    public struct Platform: Codable, Sendable, Equatable {
        public var architecture: String
        public var os: String
        public var variant: String?

        /// This machine, in the image spec's words (GOARCH names).
        public static var host: Platform {
            var u = utsname()
            uname(&u)
            let machine = withUnsafeBytes(of: u.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            let arch = switch machine {
            case "x86_64": "amd64"
            case "aarch64", "arm64": "arm64"
            case "i386", "i686": "386"
            case "ppc64le": "ppc64le"
            case "s390x": "s390x"
            case "riscv64": "riscv64"
            case let m where m.hasPrefix("arm"): "arm"
            default: machine
            }
            return Platform(architecture: arch, os: "linux", variant: nil)
        }
    }

    public struct Index: Codable, Sendable {
        public var schemaVersion: Int
        public var mediaType: String?
        public var manifests: [Descriptor]
    }

    public struct Manifest: Codable, Sendable {
        public var schemaVersion: Int
        public var mediaType: String?
        public var config: Descriptor
        public var layers: [Descriptor]
    }

    /// The image configuration: what the container runs by default, and the layers' diff_ids.
    public struct ImageConfig: Codable, Sendable {
        public var created: String?
        public var architecture: String?
        public var os: String?
        public var config: Defaults?
        public var rootfs: RootFS

        public struct RootFS: Codable, Sendable {
            public var type: String
            public var diff_ids: [String]
        }

        /// The defaults a spec overrides (the keys are the image spec's, capitalised).
        public struct Defaults: Codable, Sendable, Equatable {
            public var User: String?
            public var Env: [String]?
            public var Entrypoint: [String]?
            public var Cmd: [String]?
            public var WorkingDir: String?
            public var StopSignal: String?
            // operations
            /// Docker's HEALTHCHECK (durations in nanoseconds; 0: Docker's default).
            public var Healthcheck: HealthConfig?
        }

        /// Docker's image `Healthcheck`: `Test` is `["CMD", ...]`, `["CMD-SHELL", "..."]`
        /// or `["NONE"]`; an empty `Test` inherits (there is nothing to inherit from here).
        public struct HealthConfig: Codable, Sendable, Equatable {
            public var Test: [String]?
            public var Interval: Int64?
            public var Timeout: Int64?
            public var StartPeriod: Int64?
            public var StartInterval: Int64?
            public var Retries: Int?
        }
    }

    /// `sha256:<hex>` -> `<hex>`, after checking the form (a digest becomes a file name).
    public static func hex(of digest: String) -> String? {
        guard ImageReference.isDigest(digest) else { return nil }
        return String(digest.dropFirst(7))
    }
}
