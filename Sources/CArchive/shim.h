#include <archive.h>
#include <archive_entry.h>
#include <sys/xattr.h>

// archive_entry.h defines the file types as casts, which Swift does not import.
static const unsigned int CARCHIVE_IFMT = 0170000;
static const unsigned int CARCHIVE_IFREG = 0100000;
static const unsigned int CARCHIVE_IFLNK = 0120000;
static const unsigned int CARCHIVE_IFSOCK = 0140000;
static const unsigned int CARCHIVE_IFCHR = 0020000;
static const unsigned int CARCHIVE_IFBLK = 0060000;
static const unsigned int CARCHIVE_IFDIR = 0040000;
static const unsigned int CARCHIVE_IFIFO = 0010000;

// glibc declares syncfs(2) only with _GNU_SOURCE.
int syncfs(int fd);
