import BerthKernel

/// What `berth exec` may change about the process it runs in a container.
public struct ExecOptions: Sendable {
    /// uid and gid instead of the container's user.
    public var user: (uid: UInt32, gid: UInt32)?
    /// `KEY=value` entries added to (or replacing those of) the container's environment.
    public var env: [String]
    /// Instead of the container's working directory.
    public var workdir: String?
    /// `-t`: a pty of this size inside the container.
    public var terminal: TerminalSize?

    public init(user: (uid: UInt32, gid: UInt32)? = nil, env: [String] = [], workdir: String? = nil,
                terminal: TerminalSize? = nil) {
        self.user = user
        self.env = env
        self.workdir = workdir
        self.terminal = terminal
    }

    func process(_ argv: [String], like config: ContainerConfig) -> ExecConfig {
        var process = ExecConfig(argv: argv, like: config)
        for entry in env {
            let name = entry.prefix { $0 != "=" }
            process.env.removeAll { $0.prefix { $0 != "=" } == name }
            process.env.append(entry)
        }
        if let user {
            process.uid = user.uid
            process.gid = user.gid
        }
        if let workdir { process.workdir = workdir }
        if terminal != nil, !process.env.contains(where: { $0.hasPrefix("TERM=") }) { process.env.append("TERM=xterm") }
        return process
    }
}
