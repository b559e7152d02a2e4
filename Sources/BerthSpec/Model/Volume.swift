/// A named volume: a directory berth owns under its state directory that outlives
/// the containers which mount it (`destroy` keeps it; `berth volume rm` and
/// `destroy --volumes` remove it). Made on first use, seeded from the content of the
/// first container root that mounts it, at the mount's target, while it is empty.
public struct Volume: Sendable, Equatable, Codable {
    /// `[a-z0-9][a-z0-9-]*`, at most 63 characters: a path component of the state directory.
    public var name: String

    public init(name: String) {
        self.name = name
    }
}
