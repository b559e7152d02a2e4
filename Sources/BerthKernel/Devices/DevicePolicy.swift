import Glibc
import SystemPackage

/// One line of a device allow-list, as cgroup v1's `devices.allow` writes it: `c 1:3 rwm`.
public struct DeviceRule: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case char = "c"
        case block = "b"
    }
    public var kind: Kind
    /// nil: any (`*`).
    public var major: UInt32?
    public var minor: UInt32?
    /// Access flags: r (read), w (write), m (mknod).
    public var read: Bool
    public var write: Bool
    public var mknod: Bool

    public init(_ kind: Kind, _ major: UInt32?, _ minor: UInt32?, access: String) {
        self.kind = kind
        self.major = major
        self.minor = minor
        read = access.contains("r")
        write = access.contains("w")
        mknod = access.contains("m")
    }

    public var access: String { (read ? "r" : "") + (write ? "w" : "") + (mknod ? "m" : "") }

    public var description: String {
        "\(kind.rawValue) \(major.map(String.init) ?? "*"):\(minor.map(String.init) ?? "*") \(access)"
    }
}

/// What a container may do with device nodes: everything denied but the rules.
///
/// Enforced by the cgroup (v1 `devices.deny`/`devices.allow`, v2 a BPF device
/// program), behind the nodev mounts: a container that makes a node with CAP_MKNOD
/// on a mount of its own without nodev still cannot open it.
public struct DevicePolicy: Sendable, Equatable {
    public var allow: [DeviceRule]

    public init(allow: [DeviceRule]) { self.allow = allow }

    /// Docker's and runc's defaults: mknod of anything (opening is what matters),
    /// null, zero, full, random, urandom, tty, ptmx and the pseudo-terminals.
    public static let defaultRules: [DeviceRule] = [
        DeviceRule(.char, nil, nil, access: "m"), DeviceRule(.block, nil, nil, access: "m"),
        DeviceRule(.char, 1, 3, access: "rwm"), DeviceRule(.char, 1, 5, access: "rwm"),
        DeviceRule(.char, 1, 7, access: "rwm"), DeviceRule(.char, 1, 8, access: "rwm"),
        DeviceRule(.char, 1, 9, access: "rwm"), DeviceRule(.char, 5, 0, access: "rwm"),
        DeviceRule(.char, 5, 2, access: "rwm"), DeviceRule(.char, 136, nil, access: "rwm"),
    ]

    /// The default rules and one per requested device, its number read from the host's node.
    public static func container(_ devices: [DeviceRequest]) throws -> DevicePolicy {
        DevicePolicy(allow: defaultRules + (try devices.map { try rule(for: $0) }))
    }

    /// The rule of a host device node; throws when the path is no device node.
    public static func rule(for device: DeviceRequest) throws -> DeviceRule {
        var st = stat()
        guard stat(device.path, &st) == 0 else {
            throw KernelError("device", device.path, errno: Errno(rawValue: errno))
        }
        let kind: DeviceRule.Kind
        switch st.st_mode & S_IFMT {
        case S_IFCHR: kind = .char
        case S_IFBLK: kind = .block
        default: throw KernelError("device", device.path, detail: "not a character or block device on this host")
        }
        return DeviceRule(kind, major(st.st_rdev), minor(st.st_rdev), access: device.access)
    }

    private static func major(_ dev: dev_t) -> UInt32 { UInt32((dev >> 8) & 0xfff) | UInt32((dev >> 32) & ~0xfff) }
    private static func minor(_ dev: dev_t) -> UInt32 { UInt32(dev & 0xff) | UInt32((dev >> 12) & ~0xff) }
}
