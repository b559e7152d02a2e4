/// A device node the spec gives a container: the host's node at `path`
/// (e.g. `/dev/fuse`), bind-mounted at the same path in the container's /dev,
/// and allowed in its device policy with `access` (a subset of `rwm`).
public struct DeviceRequest: Codable, Sendable, Equatable, Hashable {
    public var path: String
    public var access: String
    public init(path: String, access: String = "rwm") {
        self.path = path
        self.access = access
    }
}
