import CBerth
import Glibc
import SystemPackage

/// The hardening steps of berth init, kept apart from its control flow.
extension ContainerInit {
    /// The compiled filter the parent sent; a malformed one is an error, never "no filter".
    static func seccompFilter(_ request: InitRequest) -> SeccompFilter? {
        guard let text = request.seccompFilter else { return nil }
        guard let filter = SeccompFilter(base64: text) else { fail("configuration: malformed seccomp filter") }
        return filter
    }
}

extension ContainerInit {
    /// securebits (linux/securebits.h): uid 0 confers no capability on execve
    /// (NOROOT), a uid change does not touch capabilities (NO_SETUID_FIXUP), and
    /// neither can be undone, nor can KEEP_CAPS be turned on.
    static let lockedSecureBits: UInt = {
        let noRoot: UInt = 1 << 0, noRootLocked: UInt = 1 << 1
        let noSetuidFixup: UInt = 1 << 2, noSetuidFixupLocked: UInt = 1 << 3
        let keepCapsLocked: UInt = 1 << 5
        return noRoot | noRootLocked | noSetuidFixup | noSetuidFixupLocked | keepCapsLocked
    }()

    /// After the command is running, berth init gives up every capability it holds
    /// beyond its command's: its bounding set becomes the container's, its effective,
    /// inheritable and ambient sets are emptied, securebits are locked so that uid 0
    /// regains nothing through execve, and no_new_privs is set. A bug in init is then no
    /// way out of the container.
    ///
    /// What it still needs is no capability: it waits for and reaps children,
    /// writes `exit.json` through the state directory's fd (owned by its uid),
    /// and forwards signals to the command. For a command of another uid, init
    /// takes that uid as its real uid first, since kill(2) then passes without CAP_KILL.
    ///
    /// `keepingForChecks` (start mode: init runs the container's healthchecks, see
    /// ``HealthEndpoint``): a check must get exactly the command's credentials, from an
    /// init that can no longer set them. So init takes the command's supplementary groups
    /// and rlimits itself and its gid as real gid (as the uid), and keeps the command's
    /// capabilities as permitted, never effective, only where the command has them
    /// (uid 0; any other uid's command has none, and init keeps none). Init never holds
    /// more than its command.
    static func dropPrivileges(_ command: CommandLauncher, keepingForChecks: Bool) throws {
        guard cberth_prctl(PR_SET_SECUREBITS, lockedSecureBits, 0, 0, 0) == 0 else {
            throw KernelError("prctl(PR_SET_SECUREBITS)", "berth init", errno: Errno(rawValue: errno))
        }
        if keepingForChecks {
            try command.setGroups()
            try ResourceLimit.apply(command.rlimits)
            if command.gid != 0 {
                guard cberth_setresgid(command.gid, UInt32.max, UInt32.max) == 0 else {
                    throw KernelError("setresgid", "berth init real gid \(command.gid)", errno: Errno(rawValue: errno))
                }
            }
        }
        if command.uid != 0 {
            guard cberth_setresuid(command.uid, UInt32.max, UInt32.max) == 0 else {
                throw KernelError("setresuid", "berth init real uid \(command.uid)", errno: Errno(rawValue: errno))
            }
        }
        try Capabilities.limitBoundingSet(to: command.capabilities)
        if keepingForChecks && command.uid == 0 {
            try Capabilities.setPermittedOnly(command.capabilities)
        } else {
            try Capabilities.setProcessSets([], root: false)
        }
        guard cberth_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 else {
            throw KernelError("prctl(PR_SET_NO_NEW_PRIVS)", "berth init", errno: Errno(rawValue: errno))
        }
        // Fewer permitted capabilities make the kernel reset dumpable to fs.suid_dumpable:
        // set it again, /proc/1/exe and /proc/1/mem stay closed (CVE-2019-5736).
        guard cberth_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 else {
            throw KernelError("prctl(PR_SET_DUMPABLE)", "berth init", errno: Errno(rawValue: errno))
        }
    }
}
