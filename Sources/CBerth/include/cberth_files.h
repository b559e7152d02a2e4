#ifndef CBERTH_FILES_H
#define CBERTH_FILES_H

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

// Extended attributes (not in Swift's Glibc module): volume seeding copies them,
// layer lookups read overlayfs' trusted.overlay.opaque.
#include <sys/xattr.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1) /* <linux/fs.h>, which clashes with <sys/mount.h> */
#endif

/// renameat2(2) with RENAME_EXCHANGE: swaps two names atomically, both files kept
/// (AtomicFile's non-durable rewrite keeps the replaced file as its next temp file).
/// 0, or -1 with errno (EINVAL where the filesystem cannot exchange, ENOENT where
/// either name is missing).
static inline int cberth_rename_exchange(const char *from, const char *to) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE);
}

#endif
