import Glibc
import SystemPackage

/// berth init's standing with the OOM killer. init maps the whole berth binary (tens of MiB
/// of file pages count as its RSS) and would be the OOM killer's first pick in a small
/// cgroup, taking the container down without an exit record while the command that
/// allocated lives on. As containerd does for its shim, berth (on the host, with
/// CAP_SYS_RESOURCE) lowers init's score before the command is launched, and the
/// command puts its own back to 0 (raising needs no capability), as Docker gives containers.
package enum OOMScore {
    package static let initScore = "-999"

    /// On the host, for init `pid`, before it is told to go. Also lowers the floor its
    /// processes may raise from, so the command's write of 0 is allowed. Where berth lacks
    /// CAP_SYS_RESOURCE (a host that withholds it, as some container sandboxes do) init keeps
    /// berth's score: the OOM killer may then pick init, and `berth status` still names the
    /// kill from the cgroup's count.
    package static func protect(pid: Int32) throws {
        let path = "/proc/\(pid)/oom_score_adj"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KernelError("open", path, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        guard write(fd, initScore, initScore.utf8.count) == initScore.utf8.count || errno == EACCES || errno == EPERM else {
            throw KernelError("write", path, errno: Errno(rawValue: errno))
        }
    }

    /// In the forked command, before exec, through a directory fd of the host's /proc that
    /// init opened before its root changed (its `self` is the caller in any PID namespace below it).
    package static func reset(proc: Int32) throws {
        let fd = openat(proc, "self/oom_score_adj", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KernelError("open", "/proc/self/oom_score_adj", errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        guard write(fd, "0", 1) == 1 else {
            throw KernelError("write", "/proc/self/oom_score_adj", errno: Errno(rawValue: errno))
        }
    }
}
