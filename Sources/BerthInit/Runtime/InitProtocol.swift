import Glibc

/// What crosses the exec from the starting berth into `berth init`.
///
/// The parent writes the request as JSON into a memfd that becomes the child's
/// fd 3 (no pipe to fill, no SIGPIPE). fd 4 is one end of a SOCK_SEQPACKET socket:
/// the C child reads its "go" from it and reports clone-to-exec failures on it;
/// after exec, init sends one message on it: `O` when the user's command has been
/// exec'd, `E` and the error text when not.
package struct InitRequest: Codable {
    /// Start mode: set up the container and stay as its init.
    package var container: ContainerConfig?
    /// Exec mode: join a running container and run one command in it.
    package var exec: ExecRequest?
    /// Start mode, for tests: skip pivot_root and take the fallback an initramfs root needs.
    package var moveRoot: Bool?
    /// The compiled seccomp filter of the command (base64 of the BPF), nil for none.
    package var seccompFilter: String?

    package static let configFD: Int32 = 3
    package static let socketFD: Int32 = 4
    /// Start mode: the state directory (a detached bind mount of it, see ``ContainerRuntime``).
    package static let stateDirFD: Int32 = 5
    /// Exec mode: the container's root directory, then the namespace fds.
    package static let rootFD: Int32 = 5

    package static let ok: UInt8 = UInt8(ascii: "O")
    package static let error: UInt8 = UInt8(ascii: "E")

    package init(container: ContainerConfig? = nil, exec: ExecRequest? = nil, moveRoot: Bool? = nil,
                 seccompFilter: String? = nil) {
        self.container = container
        self.exec = exec
        self.moveRoot = moveRoot
        self.seccompFilter = seccompFilter
    }
}

package struct ExecRequest: Codable {
    package var process: ExecConfig
    /// The namespaces to join, in ``NamespaceKind/joinOrder``, and the fd each is open on.
    package var namespaces: [JoinedNamespace]
    // operations
    /// `exec -t`: a pty of this size made inside the container, its master sent back with `O`.
    package var terminal: TerminalSize?

    package init(process: ExecConfig, namespaces: [JoinedNamespace], terminal: TerminalSize? = nil) {
        self.process = process
        self.namespaces = namespaces
        self.terminal = terminal
    }
}

package struct JoinedNamespace: Codable {
    package var kind: NamespaceKind
    package var fd: Int32

    package init(kind: NamespaceKind, fd: Int32) {
        self.kind = kind
        self.fd = fd
    }
}

/// A process to run in a running container with ``ContainerRuntime/exec(into:_:executable:stdin:stdout:stderr:prepare:)``.
public struct ExecConfig: Codable, Sendable, Equatable {
    public var argv: [String]
    /// `KEY=value` entries.
    public var env: [String]
    public var workdir: String
    public var uid: UInt32
    public var gid: UInt32
    /// The final set by name, as in ``ContainerConfig/capabilities``.
    public var capabilities: [String]
    public var noNewPrivileges: Bool
    public var seccomp: SeccompPolicy
    /// Supplementary groups, as in ``ContainerConfig/groups``.
    public var groups: [UInt32]
    public var rlimits: [ResourceLimit]

    public init(argv: [String], env: [String] = [], workdir: String = "/", uid: UInt32 = 0, gid: UInt32 = 0,
                capabilities: [String] = ContainerConfig.defaultCapabilities, noNewPrivileges: Bool = true,
                seccomp: SeccompPolicy = .default, groups: [UInt32] = [], rlimits: [ResourceLimit] = []) {
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.uid = uid
        self.gid = gid
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
        self.seccomp = seccomp
        self.groups = groups
        self.rlimits = rlimits
    }

    /// `argv` with the environment, directory, user and privileges of the container's own command.
    public init(argv: [String], like container: ContainerConfig) {
        self.init(argv: argv, env: container.env, workdir: container.workdir, uid: container.uid,
                  gid: container.gid, capabilities: container.capabilities,
                  noNewPrivileges: container.noNewPrivileges, seccomp: container.seccomp, groups: container.groups,
                  rlimits: container.rlimits)
    }
}

/// An error of init that is already a whole sentence (e.g. `exec "/bin/nosuch": No such file or directory`).
package struct InitFailure: Error, CustomStringConvertible {
    package var description: String
}
