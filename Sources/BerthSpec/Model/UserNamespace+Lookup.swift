extension UserNamespace {
    /// Whether `uid` (inside the container) has a host id.
    public func mapsUID(_ uid: UInt32) -> Bool { uidMap.hostID(of: uid) != nil }
    /// Whether `gid` (inside the container) has a host id.
    public func mapsGID(_ gid: UInt32) -> Bool { gidMap.hostID(of: gid) != nil }
}

extension Array where Element == IDMapping {
    /// The host id of the container's id `id` under these lines; nil when none maps it.
    /// (The kernel layer's `ContainerRuntime.hostID` is the same lookup on its own type;
    /// a test in BerthTests keeps the two in agreement.)
    public func hostID(of id: UInt32) -> UInt32? {
        first { id >= $0.container && UInt64(id) < UInt64($0.container) + UInt64($0.size) }
            .map { $0.host + (id - $0.container) }
    }
}
