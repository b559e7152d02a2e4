import Glibc

/// What crosses the exec from the starting berth into `berth init`.
///
/// The parent writes the request as JSON into a memfd that becomes the child's
/// fd 3 (no pipe to fill, no SIGPIPE). fd 4 is one end of a SOCK_SEQPACKET socket:
/// the C child reads its "go" from it and reports clone-to-exec failures on it;
/// after exec, init sends one message on it: `O` when the user's command has been
/// exec'd, `E` and the error text when not.
struct InitRequest: Codable {
    /// Start mode: set up the container and stay as its init.
    var container: ContainerConfig?
    /// Exec mode: join a running container and run one command in it.
    var exec: ExecRequest?
    /// Start mode, for tests: skip pivot_root and take the fallback an initramfs root needs.
    var moveRoot: Bool?
    /// The compiled seccomp filter of the command (base64 of the BPF), nil for none.
    var seccompFilter: String?

    static let configFD: Int32 = 3
    static let socketFD: Int32 = 4
    /// Start mode: the state directory (a detached bind mount of it, see ``ContainerRuntime``).
    static let stateDirFD: Int32 = 5
    /// Exec mode: the container's root directory, then the namespace fds.
    static let rootFD: Int32 = 5

    static let ok: UInt8 = UInt8(ascii: "O")
    static let error: UInt8 = UInt8(ascii: "E")
}

struct ExecRequest: Codable {
    var process: ExecConfig
    /// The namespaces to join, in ``NamespaceKind/joinOrder``, and the fd each is open on.
    var namespaces: [JoinedNamespace]
}

struct JoinedNamespace: Codable {
    var kind: NamespaceKind
    var fd: Int32
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

    public init(argv: [String], env: [String] = [], workdir: String = "/", uid: UInt32 = 0, gid: UInt32 = 0,
                capabilities: [String] = ContainerConfig.defaultCapabilities, noNewPrivileges: Bool = true,
                seccomp: SeccompPolicy = .default, groups: [UInt32] = []) {
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.uid = uid
        self.gid = gid
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
        self.seccomp = seccomp
        self.groups = groups
    }

    /// `argv` with the environment, directory, user and privileges of the container's own command.
    public init(argv: [String], like container: ContainerConfig) {
        self.init(argv: argv, env: container.env, workdir: container.workdir, uid: container.uid,
                  gid: container.gid, capabilities: container.capabilities,
                  noNewPrivileges: container.noNewPrivileges, seccomp: container.seccomp, groups: container.groups)
    }
}

/// An error of init that is already a whole sentence (e.g. `exec "/bin/nosuch": No such file or directory`).
struct InitFailure: Error, CustomStringConvertible {
    var description: String
}
