#ifndef CBERTH_RUNTIME_H
#define CBERTH_RUNTIME_H

// The process side of the runtime: the clone-to-exec child (spawn.c) and the
// system calls that Glibc does not declare, or declares only under _GNU_SOURCE,
// which Swift's Glibc module is not built with. New system calls are reached by
// number: since Linux 5.x those numbers are the same on every architecture.

#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// MARK: - clone flags and constants (sched.h hides them without _GNU_SOURCE)

#define CBERTH_CLONE_NEWNS     0x00020000
#define CBERTH_CLONE_NEWCGROUP 0x02000000
#define CBERTH_CLONE_NEWUTS    0x04000000
#define CBERTH_CLONE_NEWIPC    0x08000000
#define CBERTH_CLONE_NEWUSER   0x10000000
#define CBERTH_CLONE_NEWPID    0x20000000
#define CBERTH_CLONE_NEWNET    0x40000000

// MARK: - spawn: clone, wait for the parent, execveat

/// The most fds the child can be given (0 ... CBERTH_SPAWN_MAX_FDS-1).
#define CBERTH_SPAWN_MAX_FDS 24

/// What the child of `cberth_spawn` does between clone() and execveat().
struct cberth_spawn_args {
    /// CLONE_NEW* flags for the new process.
    unsigned long namespaces;
    /// CLONE_NEW* flags unshared after the parent's "go", before exec: the cgroup
    /// namespace, so that its root is the cgroup the parent has just moved us into.
    unsigned long late_namespaces;
    /// 1: fork twice, so that the new process is not the caller's child (it is
    /// re-parented to the nearest subreaper and outlives the caller).
    int detach;
    /// 1: setsid() before exec, so that the terminal's signals do not reach it.
    int new_session;
    /// 1: after the parent wrote the id maps of a new user namespace, become
    /// uid 0 / gid 0 of that namespace (else execve drops every capability).
    int become_root;
    /// The binary to run, executed with execveat(AT_EMPTY_PATH). An O_PATH fd is fine.
    int exe_fd;
    char *const *argv;
    char *const *envp;
    /// The child's fd i becomes a copy of fds[i]; -1 leaves fd i closed.
    /// Every other fd is closed before the child waits for the parent.
    const int *fds;
    int nfds;
    /// Index in `fds` of the child's end of a SOCK_SEQPACKET socket: the child
    /// reads one byte from it before exec (the "go"), and reports on it (see below).
    int sock_index;
    /// A cgroup v2 directory (an open fd) to create the new process in, with clone3's
    /// CLONE_INTO_CGROUP: it never runs outside it, and nobody writes its pid to
    /// cgroup.procs (a write that waits for an RCU grace period). -1: none. Where the
    /// kernel refuses (before Linux 5.7, or a seccomp filter returning ENOSYS for
    /// clone3), the process is made by clone() where its parent is, as without.
    int cgroup_fd;
};

/// What the child side reports on the socket before exec.
struct cberth_spawn_report {
    /// CBERTH_REPORT_PID (detach: the new process's pid, in `value`) or CBERTH_REPORT_ERROR.
    int kind;
    /// A CBERTH_STEP_* for errors.
    int step;
    /// The pid, or the errno.
    int value;
};

enum {
    CBERTH_REPORT_PID = 1,
    CBERTH_REPORT_ERROR = 2,
};

enum {
    CBERTH_STEP_CLONE = 1,
    CBERTH_STEP_FDS,
    CBERTH_STEP_WAIT,
    CBERTH_STEP_SETGROUPS,
    CBERTH_STEP_SETRESGID,
    CBERTH_STEP_SETRESUID,
    CBERTH_STEP_SETSID,
    CBERTH_STEP_UNSHARE,
    CBERTH_STEP_EXEC,
};

/// Starts the child and returns its pid (with `detach`: the pid of the short-lived
/// intermediate, which reports the real pid on the socket and exits), or -errno.
/// The child blocks until the caller sends one byte on the socket.
/// Async-signal-safe in the child: no malloc, no locks, raw system calls only.
pid_t cberth_spawn(const struct cberth_spawn_args *args);

// MARK: - system calls

struct cberth_open_how {
    unsigned long long flags;
    unsigned long long mode;
    unsigned long long resolve;
};

#define CBERTH_RESOLVE_NO_XDEV       0x01
#define CBERTH_RESOLVE_NO_MAGICLINKS 0x02
#define CBERTH_RESOLVE_NO_SYMLINKS   0x04
#define CBERTH_RESOLVE_BENEATH       0x08
#define CBERTH_RESOLVE_IN_ROOT       0x10

struct cberth_mount_attr {
    unsigned long long attr_set;
    unsigned long long attr_clr;
    unsigned long long propagation;
    unsigned long long userns_fd;
};

#define CBERTH_MOUNT_ATTR_RDONLY 0x00000001
#define CBERTH_MOUNT_ATTR_NOSUID 0x00000002
#define CBERTH_MOUNT_ATTR_NODEV  0x00000004
#define CBERTH_MOUNT_ATTR_NOEXEC 0x00000008

#define CBERTH_OPEN_TREE_CLONE   1
#define CBERTH_OPEN_TREE_CLOEXEC 02000000
#define CBERTH_AT_RECURSIVE      0x8000
#define CBERTH_AT_EMPTY_PATH     0x1000
#define CBERTH_CLOSE_RANGE_CLOEXEC (1U << 2)
#define CBERTH_O_PATH            010000000
#define CBERTH_MFD_CLOEXEC       0x0001U
#define CBERTH_MFD_ALLOW_SEALING 0x0002U
#define CBERTH_F_ADD_SEALS       1033
#define CBERTH_F_SEAL_SEAL       0x0001
#define CBERTH_F_SEAL_SHRINK     0x0002
#define CBERTH_F_SEAL_GROW       0x0004
#define CBERTH_F_SEAL_WRITE      0x0008

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

// setns(2) and unshare(2) are declared by <sched.h> only under _GNU_SOURCE, which
// Swift's Glibc module is not built with: reached by their raw syscall numbers.
static inline int cberth_setns(int fd, int nstype) {
    return (int)syscall(SYS_setns, fd, nstype);
}
static inline int cberth_unshare(int flags) {
    return (int)syscall(SYS_unshare, flags);
}
static inline int cberth_pipe2(int fds[2], int flags) {
    return (int)syscall(SYS_pipe2, fds, flags);
}
static inline int cberth_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}
static inline int cberth_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}
static inline int cberth_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}
static inline int cberth_open_tree(int dirfd, const char *path, unsigned int flags) {
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}
static inline int cberth_mount_setattr(int dirfd, const char *path, unsigned int flags,
                                       unsigned long long attr_set, unsigned long long attr_clr) {
    struct cberth_mount_attr attr = { attr_set, attr_clr, 0, 0 };
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}
static inline int cberth_openat2(int dirfd, const char *path, unsigned long long flags, unsigned long long mode,
                                 unsigned long long resolve) {
    struct cberth_open_how how = { flags, mode, resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
static inline int cberth_close_range(unsigned int first, unsigned int last, unsigned int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}
static inline int cberth_memfd_create(const char *name, unsigned int flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}
static inline int cberth_sethostname(const char *name, size_t len) {
    return (int)syscall(SYS_sethostname, name, len);
}
// Raw, so that glibc does not try to broadcast the change to threads it
// believes exist (berth init is single-threaded; these are for it and its child).
static inline int cberth_setresuid(uid_t r, uid_t e, uid_t s) {
    return (int)syscall(SYS_setresuid, r, e, s);
}
static inline int cberth_setresgid(gid_t r, gid_t e, gid_t s) {
    return (int)syscall(SYS_setresgid, r, e, s);
}
static inline int cberth_setgroups(size_t n, const gid_t *groups) {
    return (int)syscall(SYS_setgroups, n, groups);
}
static inline int cberth_prctl(int option, unsigned long a2, unsigned long a3,
                               unsigned long a4, unsigned long a5) {
    return (int)syscall(SYS_prctl, option, a2, a3, a4, a5);
}

/// Gives freed heap memory back to the kernel (glibc malloc_trim; <malloc.h> is not in Swift's Glibc).
int cberth_malloc_trim(void);

#endif
