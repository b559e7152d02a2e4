#include "cberth_seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// #embed (C23) takes the file itself into the binary when this file is compiled, and
// the compiler lists it as a dependency: the profile in the binary cannot drift from
// the JSON in the repository, and berth stays one file.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wc23-extensions"
static const char default_profile[] = {
#embed "../../profiles/seccomp/default.json"
    , 0
};
#pragma clang diagnostic pop

const char *cberth_default_seccomp_profile(size_t *length) {
    *length = sizeof(default_profile) - 1;
    return default_profile;
}

int cberth_seccomp_load(const void *instructions, size_t count) {
    if (count == 0 || count > BPF_MAXINSNS) {
        errno = EINVAL;
        return -1;
    }
    struct sock_fprog program = {
        .len = (unsigned short)count,
        .filter = (struct sock_filter *)instructions,
    };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program);
}

int cberth_seccomp_mode(void) {
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
}
