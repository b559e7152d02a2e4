#include "cberth_bpf.h"

#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long bpf(int cmd, union bpf_attr *attr) {
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int cberth_bpf_load_device_program(const void *instructions, size_t count, char *log, size_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)instructions;
    attr.insn_cnt = (uint32_t)count;
    // No helper is called: the license is only a label.
    attr.license = (uint64_t)(uintptr_t)"Apache";
    if (log && log_size) {
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = (uint32_t)log_size;
        attr.log_level = 1;
    }
    memcpy(attr.prog_name, "berth_devices", sizeof "berth_devices");
    long fd = bpf(BPF_PROG_LOAD, &attr);
    if (fd < 0 && errno == ENOSPC && log) {
        // The log buffer was too small; load again without it for the real errno.
        attr.log_buf = 0;
        attr.log_size = 0;
        attr.log_level = 0;
        fd = bpf(BPF_PROG_LOAD, &attr);
    }
    return (int)fd;
}

int cberth_bpf_attach_device_program(int cgroup_fd, int program_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)program_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    return (int)bpf(BPF_PROG_ATTACH, &attr);
}

int cberth_bpf_query_device_programs(int cgroup_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.query.target_fd = (uint32_t)cgroup_fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_QUERY, &attr) != 0) return -1;
    return (int)attr.query.prog_cnt;
}
