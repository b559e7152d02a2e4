#ifndef CBERTH_OPERATIONS_H
#define CBERTH_OPERATIONS_H

// Day-to-day operation: berth init's log relay (signalfd, pipe sizes) and the
// terminal of `berth exec -t` (ptys, window sizes, the controlling terminal).

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>

#define CBERTH_F_SETPIPE_SZ 1031

static inline int cberth_signalfd(const sigset_t *mask) {
    return signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

/// The signal number of one signalfd_siginfo read from a signalfd.
static inline int cberth_signalfd_signo(const struct signalfd_siginfo *info) { return (int)info->ssi_signo; }



// ioctls by request number, typed so that Swift can call them (ioctl is variadic).
static inline int cberth_tiocsctty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }
static inline int cberth_get_winsize(int fd, struct winsize *ws) { return ioctl(fd, TIOCGWINSZ, ws); }
static inline int cberth_set_winsize(int fd, const struct winsize *ws) { return ioctl(fd, TIOCSWINSZ, ws); }
/// Unlocks the pty master's slave (unlockpt) and returns the slave's number (TIOCGPTN).
static inline int cberth_pty_unlock(int master, unsigned int *number) {
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0) return -1;
    return ioctl(master, TIOCGPTN, number);
}
/// Opens the slave of a pty master without a path lookup (TIOCGPTPEER, Linux 4.13).
static inline int cberth_pty_peer(int master, int flags) { return ioctl(master, TIOCGPTPEER, flags); }

/// One message with one fd attached (SCM_RIGHTS). Returns what send(2) returns.
static inline long cberth_send_with_fd(int sock, const void *buf, size_t len, int fd) {
    struct iovec iov = { (void *)buf, len };
    union { char bytes[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/// One message, and the fd attached to it (close-on-exec) or -1. Returns what recvmsg(2) returns.
static inline long cberth_recv_with_fd(int sock, void *buf, size_t len, int *fd) {
    struct iovec iov = { buf, len };
    union { char bytes[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    *fd = -1;
    long n = recvmsg(sock, &msg, 0x40000000 /* MSG_CMSG_CLOEXEC */);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof(int));
    }
    return n;
}

#endif
