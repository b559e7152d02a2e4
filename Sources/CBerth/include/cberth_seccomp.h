#ifndef CBERTH_SECCOMP_H
#define CBERTH_SECCOMP_H

#include <stddef.h>

/// berth's default seccomp profile (profiles/seccomp/default.json), embedded at
/// build time: the bytes of the file, not a copy kept in code. NUL-terminated;
/// `length` receives the size without the NUL.
const char *cberth_default_seccomp_profile(size_t *length);

/// Installs a classic BPF seccomp filter (an array of `struct sock_filter`, 8
/// bytes each) on the calling thread with seccomp(SECCOMP_SET_MODE_FILTER).
/// Needs no_new_privs or CAP_SYS_ADMIN. Returns 0, or -1 with errno.
int cberth_seccomp_load(const void *instructions, size_t count);

/// The seccomp mode of the calling thread as prctl(PR_GET_SECCOMP) says: 0, 1 or 2.
int cberth_seccomp_mode(void);

#endif
