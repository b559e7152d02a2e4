#ifndef CBERTH_EVENTS_H
#define CBERTH_EVENTS_H

// epoll for the reconciler's event loop and the healthchecks' answers (not in Swift's
// Glibc module; struct epoll_event is packed on x86-64, so Swift sees only file descriptors).

#include <stddef.h>
#include <sys/epoll.h>

/// A new epoll instance (close-on-exec), or -1 with errno.
static inline int cberth_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

/// Watches `fd` for readability, level-triggered; 0 or -1 with errno.
static inline int cberth_epoll_add(int epfd, int fd) {
    struct epoll_event event = { .events = EPOLLIN };
    event.data.fd = fd;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

/// Stops watching `fd`; 0 or -1 with errno.
static inline int cberth_epoll_remove(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

/// The watched descriptors that are ready, waiting up to `timeout` ms for one (-1: no
/// limit), at most `max` (and 64) of them, into `fds`; their count (0 at the timeout),
/// or -1 with errno.
static inline int cberth_epoll_wait(int epfd, int *fds, int max, int timeout) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout);
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}

/// The watched descriptors that are ready now (no waiting); see cberth_epoll_wait.
static inline int cberth_epoll_ready(int epfd, int *fds, int max) { return cberth_epoll_wait(epfd, fds, max, 0); }

#endif
