import CBerth

/// A kind of Linux namespace berth can give a container.
public enum NamespaceKind: String, Codable, Sendable, CaseIterable, Hashable, Comparable {
    case uts, ipc, pid, mount, network, user, cgroup

    /// The file name under `/proc/PID/ns/`.
    public var procName: String {
        switch self {
        case .uts: "uts"
        case .ipc: "ipc"
        case .pid: "pid"
        case .mount: "mnt"
        case .network: "net"
        case .user: "user"
        case .cgroup: "cgroup"
        }
    }

    /// The CLONE_NEW* flag.
    public var cloneFlag: Int32 {
        switch self {
        case .uts: CBERTH_CLONE_NEWUTS
        case .ipc: CBERTH_CLONE_NEWIPC
        case .pid: CBERTH_CLONE_NEWPID
        case .mount: CBERTH_CLONE_NEWNS
        case .network: CBERTH_CLONE_NEWNET
        case .user: CBERTH_CLONE_NEWUSER
        case .cgroup: CBERTH_CLONE_NEWCGROUP
        }
    }

    /// The order in which a process joins them: the user namespace first (it
    /// grants the capabilities to join the others), the mount namespace last.
    package static let joinOrder: [NamespaceKind] = [.user, .cgroup, .ipc, .uts, .network, .pid, .mount]

    public static func < (a: NamespaceKind, b: NamespaceKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
