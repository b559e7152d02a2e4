import BerthKernel

extension Planner {
    /// seccomp, devices, sysctls, ulimits and no_new_privs are fixed when berth init
    /// starts the command (the filter is installed for good, the sysctls written in its
    /// namespaces, the limits and no_new_privs set on the process, the nodes bound into
    /// its /dev): a change replaces the container. A v1 devices cgroup could be widened
    /// in place, but the new node would still be missing from the running /dev.
    static func hardeningChanges(from old: Container, to new: Container) -> [FieldChange] {
        var out: [FieldChange] = []
        func check<T: Equatable>(_ field: String, _ a: T, _ b: T, _ show: (T) -> String) {
            if a != b { out.append(FieldChange(field: field, old: show(a), new: show(b), forcesReplacement: true)) }
        }
        check("security.seccomp", old.security.seccomp, new.security.seccomp) { choice in
            if case .file(let path, let profile) = choice {
                // Same path, new content: say so, the path alone would read as no change.
                return "\(path) (\(profile.utf8.count) bytes, fingerprint \(Self.fingerprint(profile)))"
            }
            return choice.description
        }
        check("devices", old.devices, new.devices) { Render.list($0.map(\.description)) }
        check("sysctls", old.sysctls, new.sysctls) { Render.list($0.map(\.description)) }
        check("ulimits", old.ulimits, new.ulimits) { Render.list($0.map(\.description)) }
        check("noNewPrivileges", old.noNewPrivileges, new.noNewPrivileges) { "\($0)" }
        return out
    }

    /// FNV-1a of the profile text, in hex: enough to tell two versions apart in a plan.
    static func fingerprint(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
