#ifndef CBERTH_HEALTH_H
#define CBERTH_HEALTH_H

// The healthcheck endpoint of berth init (a unix socket in the state directory):
// accept4 and the peer's credentials, which <sys/socket.h> declares only under _GNU_SOURCE.

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/// accept4(2) without the peer's address, the new socket close-on-exec and non-blocking.
static inline int cberth_accept_nonblocking(int fd) {
    return (int)syscall(SYS_accept4, fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

/// SO_PEERCRED of a connected unix socket: the peer's pid and uid as the calling
/// process's namespaces see them (pid 0: outside its PID namespace). 0, or -1 with errno.
static inline int cberth_peer_credentials(int fd, pid_t *pid, uid_t *uid) {
    struct { pid_t pid; uid_t uid; gid_t gid; } cred;
    socklen_t length = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    return 0;
}

#endif
