#ifndef CBERTH_EVENTS_H
#define CBERTH_EVENTS_H

// epoll for the reconciler's event loop (not in Swift's Glibc module; struct epoll_event
// is packed on x86-64, so Swift sees only file descriptors).

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

/// The watched descriptors that are ready now (no waiting), at most `max` (and 64) of
/// them, into `fds`; their count, or -1 with errno.
static inline int cberth_epoll_ready(int epfd, int *fds, int max) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, 0);
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}

#endif
