// The child side of starting a process: everything between clone() and execveat().
//
// The caller is a multithreaded Swift process, so the child (a copy of one thread
// of it) must not allocate, take a lock or call into glibc code that believes the
// other threads still exist: only raw system calls and async-signal-safe functions.
// Everything else happens after exec, in berth's own single-threaded init (Swift).

#define _GNU_SOURCE
#include "cberth.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SYS_execveat
#define SYS_execveat 322
#endif

// A fork-like clone(): no CLONE_VM, no new stack. Raw, so that glibc's fork
// handlers (which take locks) do not run.
static pid_t raw_clone(unsigned long flags) {
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

// struct clone_args of <linux/sched.h> up to `cgroup` (Linux 5.7, CLONE_ARGS_SIZE_VER2).
struct cberth_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};
#define CBERTH_CLONE_INTO_CGROUP 0x200000000ULL

// raw_clone() that creates the child in the cgroup v2 directory `cgroup_fd` (when
// >= 0). Any refusal of clone3 falls back to raw_clone(): the caller sees the child
// outside the cgroup and moves it by cgroup.procs, which reports a real error.
static pid_t clone_into(unsigned long flags, int cgroup_fd) {
    if (cgroup_fd >= 0) {
        struct cberth_clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = (uint64_t)flags | CBERTH_CLONE_INTO_CGROUP;
        ca.exit_signal = SIGCHLD;
        ca.cgroup = (uint64_t)cgroup_fd;
        long pid = syscall(SYS_clone3, &ca, sizeof ca);
        if (pid >= 0) return (pid_t)pid;
    }
    return raw_clone(flags);
}

static void report(int fd, int kind, int step, int value) {
    struct cberth_spawn_report r = { kind, step, value };
    ssize_t n;
    do {
        n = send(fd, &r, sizeof r, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
}

__attribute__((noreturn)) static void fail(int sock, int step) {
    report(sock, CBERTH_REPORT_ERROR, step, errno);
    syscall(SYS_exit_group, 127);
    __builtin_unreachable();
}

static void reset_signals(void) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        // glibc's sigaction is a thin wrapper; it refuses its own reserved signals.
        (void)sigaction(sig, &dfl, NULL);
    }
}

// Moves every fds[i] to fd i. The sources may collide with the targets, so they
// are first lifted above every target, then dropped into place.
static int place_fds(const struct cberth_spawn_args *a, int *exe_out) {
    int high[CBERTH_SPAWN_MAX_FDS];
    int floor = a->nfds + 1;
    for (int i = 0; i < a->nfds; i++) {
        high[i] = -1;
        if (a->fds[i] < 0) continue;
        high[i] = fcntl(a->fds[i], F_DUPFD_CLOEXEC, floor);
        if (high[i] < 0) return -1;
    }
    int exe = fcntl(a->exe_fd, F_DUPFD_CLOEXEC, floor);
    if (exe < 0) return -1;
    for (int i = 0; i < a->nfds; i++) {
        if (high[i] < 0) {
            (void)close(i);
            continue;
        }
        // dup2 clears FD_CLOEXEC on the target: fds 0..nfds-1 survive the exec.
        if (dup2(high[i], i) < 0) return -1;
    }
    // The binary sits right after the given fds, close-on-exec.
    if (dup3(exe, a->nfds, O_CLOEXEC) < 0) return -1;
    // Drop everything else now, not at exec: a copy of another thread's pipe held
    // here while we wait would delay that pipe's EOF.
    if (cberth_close_range((unsigned)a->nfds + 1, ~0U, 0) < 0) {
        for (int fd = a->nfds + 1; fd < 4096; fd++) (void)close(fd);
    }
    *exe_out = a->nfds;
    return 0;
}

__attribute__((noreturn)) static void child(const struct cberth_spawn_args *a) {
    int sock = a->fds[a->sock_index];
    reset_signals();

    int exe = -1;
    if (place_fds(a, &exe) < 0) fail(sock, CBERTH_STEP_FDS);
    sock = a->sock_index;

    // Wait for the parent: it writes the id maps and puts us into the cgroups.
    char go = 0;
    ssize_t n;
    do {
        n = recv(sock, &go, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n != 1) syscall(SYS_exit_group, 126); // the parent gave up

    if (a->become_root) {
        // Unprivileged maps forbid setgroups; that only means there are none to drop.
        if (cberth_setgroups(0, NULL) < 0 && errno != EPERM) fail(sock, CBERTH_STEP_SETGROUPS);
        if (cberth_setresgid(0, 0, 0) < 0) fail(sock, CBERTH_STEP_SETRESGID);
        if (cberth_setresuid(0, 0, 0) < 0) fail(sock, CBERTH_STEP_SETRESUID);
    }
    if (a->late_namespaces && syscall(SYS_unshare, a->late_namespaces) < 0) fail(sock, CBERTH_STEP_UNSHARE);
    if (a->new_session && setsid() < 0) fail(sock, CBERTH_STEP_SETSID);

    sigset_t none;
    sigemptyset(&none);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);

    syscall(SYS_execveat, exe, "", a->argv, a->envp, AT_EMPTY_PATH);
    fail(sock, CBERTH_STEP_EXEC);
}

pid_t cberth_spawn(const struct cberth_spawn_args *a) {
    if (a->nfds < 0 || a->nfds > CBERTH_SPAWN_MAX_FDS || a->sock_index < 0 ||
        a->sock_index >= a->nfds || a->fds[a->sock_index] < 0) {
        return -EINVAL;
    }
    // No signal handler of the parent may run in the child before it resets them.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);

    pid_t pid;
    if (a->detach) {
        pid = raw_clone(0);
        if (pid == 0) {
            int sock = a->fds[a->sock_index];
            pid_t grandchild = clone_into(a->namespaces, a->cgroup_fd);
            if (grandchild == 0) child(a);
            if (grandchild < 0) fail(sock, CBERTH_STEP_CLONE);
            report(sock, CBERTH_REPORT_PID, 0, grandchild);
            syscall(SYS_exit_group, 0);
        }
    } else {
        pid = clone_into(a->namespaces, a->cgroup_fd);
        if (pid == 0) child(a);
    }
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid < 0 ? -err : pid;
}
