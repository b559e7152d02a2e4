#ifndef CBERTH_H
#define CBERTH_H

// The code that runs between clone() and execve(), where a multithreaded Swift
// process must not allocate or take a lock. See spawn.c.

#include "cberth_runtime.h"

#include "cberth_seccomp.h"
#include "cberth_operations.h"
#include "cberth_files.h"
#include "cberth_health.h"

#include "cberth_bpf.h"

#endif
