/// When apply asks the registry for a container's `image:` (a registry reference only).
public enum PullPolicy: String, Sendable, Equatable, Codable, CaseIterable {
    /// Pull when the image store has no image of that name (the default).
    case missing
    /// Ask the registry on every apply; pull when the tag now names another image.
    case always
    /// The store only: a missing image is a preflight error naming `berth image pull`.
    case never
}
