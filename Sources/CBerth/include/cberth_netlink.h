#ifndef CBERTH_NETLINK_H
#define CBERTH_NETLINK_H

// setns(2) and unshare(2) are declared by <sched.h> only under _GNU_SOURCE,
// which Swift's Glibc module is not built with. The netlink layer needs them to
// make a socket inside another network namespace (BerthKernel/Netlink), so they
// are reached here by their raw syscall numbers.

#include <sys/syscall.h>
#include <unistd.h>

static inline int cberth_nl_setns(int fd, int nstype) {
    return (int)syscall(SYS_setns, fd, nstype);
}

static inline int cberth_nl_unshare(int flags) {
    return (int)syscall(SYS_unshare, flags);
}

#endif
