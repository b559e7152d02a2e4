/// The device policy of a cgroup, on both versions (see ``DevicePolicy``).
extension CgroupV1Driver {
    /// `devices.deny a`, then one `devices.allow` line per rule. Write before any
    /// process joins: a v1 devices cgroup never widens what its parent allows.
    public func applyDevices(_ policy: DevicePolicy, to path: String) throws {
        try CgroupFS.validate(path)
        guard let dir = existingDirectory("devices", path) else { throw notMounted("devices", "devices.allow") }
        try CgroupFS.write("a", to: dir + "/devices.deny")
        for rule in policy.allow { try CgroupFS.write(rule.description, to: dir + "/devices.allow") }
    }

    /// `devices.list` as rules (for tests and status).
    public func deviceList(of path: String) throws -> [String] {
        guard let dir = existingDirectory("devices", path) else { throw notMounted("devices", "devices.list") }
        return try CgroupFS.read(dir + "/devices.list").split(separator: "\n").map(String.init)
    }
}

extension CgroupV2Driver {
    /// v2 has no devices controller: a BPF device program attached to the cgroup.
    public func applyDevices(_ policy: DevicePolicy, to path: String) throws {
        try DeviceProgram(policy).attach(to: try directory(path))
    }
}
