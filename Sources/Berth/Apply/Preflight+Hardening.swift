import BerthKernel

extension Preflight {
    /// What only the machine can tell about a container's hardening fields: that each
    /// device is a device node here, and that no ulimit raises a hard limit berth cannot raise.
    static func hardeningProblems(_ c: Container) -> [String] {
        let at = "containers.\(c.name)"
        var out: [String] = []
        for device in c.devices {
            do {
                _ = try DevicePolicy.rule(for: DeviceRequest(path: device.path, access: device.access))
            } catch {
                out.append("\(at).devices: \(device.path): \(error)")
            }
        }
        for limit in c.ulimits {
            if let problem = ResourceLimit(name: limit.name, soft: limit.soft, hard: limit.hard).problem {
                out.append("\(at).ulimits.\(limit.name): \(problem)")
            }
        }
        return out
    }
}
