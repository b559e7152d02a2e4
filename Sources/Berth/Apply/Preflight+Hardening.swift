import BerthKernel

extension Preflight {
    /// What only the machine can tell about a container's hardening fields: that each
    /// device is a device node here, and that no ulimit raises a hard limit berth cannot raise.
    static func hardeningProblems(_ c: Container) -> [PreflightProblem] {
        let at = "containers.\(c.name)"
        var out: [PreflightProblem] = []
        for (i, device) in c.devices.enumerated() {
            do {
                _ = try DevicePolicy.rule(for: DeviceRequest(path: device.path, access: device.access))
            } catch {
                out.append(PreflightProblem("\(at).devices[\(i)]", "\(device.path): \(error)"))
            }
        }
        for limit in c.ulimits {
            if let problem = ResourceLimit(name: limit.name, soft: limit.soft, hard: limit.hard).problem {
                out.append(PreflightProblem("\(at).ulimits.\(limit.name)", "\(problem)"))
            }
        }
        return out
    }
}
