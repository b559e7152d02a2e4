#ifndef CBERTH_OPERATIONS_H
#define CBERTH_OPERATIONS_H

// Day-to-day operation: berth init's log relay (signalfd, pipe sizes) and the
// terminal of `berth exec -t` (ptys, window sizes, the controlling terminal).

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>

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

#endif
