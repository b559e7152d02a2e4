#ifndef CBERTH_UTS_H
#define CBERTH_UTS_H

#include <stddef.h>

// Sets the hostname inside the UTS namespace open at `nsfd`, from a thread of
// its own (setns(CLONE_NEWUTS) moves only the calling thread). Returns 0 or -errno.
int cberth_sethostname_in(int nsfd, const char *name, size_t len);

#endif
