#ifndef CBERTH_FILES_H
#define CBERTH_FILES_H

// Extended attributes (not in Swift's Glibc module): volume seeding copies them,
// layer lookups read overlayfs' trusted.overlay.opaque.
#include <sys/xattr.h>

#endif
