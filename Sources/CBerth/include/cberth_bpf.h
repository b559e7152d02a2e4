#ifndef CBERTH_BPF_H
#define CBERTH_BPF_H

#include <stddef.h>
#include <stdint.h>

/// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program (`count` 8-byte `struct bpf_insn`)
/// and returns its fd, or -1 with errno. The verifier's log, if any, goes to `log`.
int cberth_bpf_load_device_program(const void *instructions, size_t count, char *log, size_t log_size);

/// Attaches a device program to the cgroup open on `cgroup_fd` (BPF_CGROUP_DEVICE,
/// no flags: it replaces a program attached before the same way). 0 or -1 with errno.
int cberth_bpf_attach_device_program(int cgroup_fd, int program_fd);

/// How many device programs are attached to the cgroup (BPF_PROG_QUERY), or -1 with errno.
int cberth_bpf_query_device_programs(int cgroup_fd);

#endif
