// The hardening probe: run inside a container, it tries what an escape would try
// and prints one line per probe, `NAME=OK` or `NAME=ERRNO` (e.g. `keyctl=EPERM`).
// Compiled static by the tests (gcc -static) and copied into the test rootfs.
// Usage: probe NAME... ; `open:PATH` opens PATH read-write.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, const char *step, int ok) {
    if (ok) printf("%s=OK\n", name);
    else if (step) printf("%s=%s:%s\n", name, step, strerrorname_np(errno));
    else printf("%s=%s\n", name, strerrorname_np(errno));
}

// Namespace probes run in a child, which reports itself: the probe stays where it is.
static void in_child(void (*fn)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

static void do_userns(void) { report("userns", NULL, unshare(CLONE_NEWUSER) == 0); }

// CVE-2022-0492: a new user and cgroup namespace, cgroup v1 mounted, release_agent written.
static void do_release_agent(void) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) != 0) return report("release_agent", "unshare", 0);
    mkdir("/tmp/probe-cgroup", 0700);
    if (mount("cgroup", "/tmp/probe-cgroup", "cgroup", 0, "memory") != 0) return report("release_agent", "mount", 0);
    int fd = open("/tmp/probe-cgroup/release_agent", O_WRONLY);
    if (fd < 0 || write(fd, "/x", 2) != 2) return report("release_agent", "write", 0);
    report("release_agent", NULL, 1);
}

static int do_clone3(void) { return (int)syscall(SYS_clone3, NULL, 0); }

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *p = argv[i];
        errno = 0;
        if (!strcmp(p, "userns")) {
            in_child(do_userns);
        } else if (!strcmp(p, "release_agent")) {
            in_child(do_release_agent);
        } else if (!strcmp(p, "keyctl")) {
            // KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING, creating it.
            report(p, NULL, syscall(SYS_keyctl, 0, -3, 1) >= 0);
        } else if (!strcmp(p, "add_key")) {
            // A user key on KEY_SPEC_PROCESS_KEYRING.
            report(p, NULL, syscall(SYS_add_key, "user", "berth-probe", "x", 1, -2) >= 0);
        } else if (!strcmp(p, "bpf")) {
            // BPF_MAP_CREATE with an all-zero attribute: EINVAL once past seccomp and capabilities.
            char attr[128] = {0};
            long rc = syscall(SYS_bpf, 0, attr, sizeof attr);
            report(p, NULL, rc >= 0 || errno == EINVAL);
        } else if (!strcmp(p, "open_by_handle_at")) {
            // "shocker": a forged handle; EPERM before the handle is even read without CAP_DAC_READ_SEARCH.
            struct { unsigned int bytes; int type; unsigned char handle[8]; } h = {8, 1, {0}};
            int dir = open("/", O_RDONLY | O_DIRECTORY);
            long rc = syscall(SYS_open_by_handle_at, dir, &h, O_RDONLY);
            report(p, NULL, rc >= 0 || errno == ESTALE || errno == EINVAL);
        } else if (!strcmp(p, "mount")) {
            mkdir("/tmp/probe-mount", 0700);
            int rc = mount("tmpfs", "/tmp/probe-mount", "tmpfs", 0, NULL);
            report(p, NULL, rc == 0);
            if (rc == 0) umount("/tmp/probe-mount");
        } else if (!strcmp(p, "personality_query")) {
            report(p, NULL, personality(0xffffffff) != -1);
        } else if (!strcmp(p, "personality_norandom")) {
            int old = personality(0xffffffff);
            int rc = personality(ADDR_NO_RANDOMIZE);
            report(p, NULL, rc != -1);
            if (rc != -1) personality(old);
        } else if (!strcmp(p, "vsock")) {
            // EAFNOSUPPORT (no vsock driver) means seccomp let it through.
            int fd = socket(40, SOCK_STREAM, 0);
            report(p, NULL, fd >= 0 || errno == EAFNOSUPPORT);
        } else if (!strcmp(p, "alg")) {
            int fd = socket(38, SOCK_SEQPACKET, 0);
            report(p, NULL, fd >= 0 || errno == EAFNOSUPPORT);
        } else if (!strcmp(p, "clone3")) {
            // A NULL argument: EINVAL from the kernel, ENOSYS from the filter. Never creates a process.
            int rc = do_clone3();
            report(p, NULL, rc >= 0 || errno == EINVAL || errno == EFAULT);
        } else if (!strcmp(p, "ptrace_init")) {
            long rc = ptrace(PTRACE_ATTACH, 1, NULL, NULL);
            report(p, NULL, rc == 0);
        } else if (!strcmp(p, "mkdir")) {
            char path[64];
            snprintf(path, sizeof path, "/tmp/probe-dir-%d", getpid());
            int rc = mkdir(path, 0700);
            report(p, NULL, rc == 0);
            if (rc == 0) rmdir(path);
        } else if (!strcmp(p, "devnode")) {
            // A tmpfs of our own without nodev (needs CAP_SYS_ADMIN), a node of /dev/kmsg (1:11)
            // made with CAP_MKNOD, then opened: only the device policy can refuse the open.
            mkdir("/tmp/probe-dev", 0700);
            const char *step = "mount";
            int ok = mount("tmpfs", "/tmp/probe-dev", "tmpfs", 0, NULL) == 0;
            if (ok) { step = "mknod"; ok = mknod("/tmp/probe-dev/node", S_IFCHR | 0600, makedev(1, 11)) == 0; }
            if (ok) { step = "open"; int fd = open("/tmp/probe-dev/node", O_RDONLY); ok = fd >= 0; if (ok) close(fd); }
            report(p, step, ok);
        } else if (!strncmp(p, "open:", 5)) {
            int fd = open(p + 5, O_RDWR);
            report(p, NULL, fd >= 0);
            if (fd >= 0) close(fd);
        } else if (!strcmp(p, "seccomp_mode")) {
            // From /proc/self/status: 0 none, 2 filter.
            FILE *f = fopen("/proc/self/status", "r");
            char line[256];
            while (f && fgets(line, sizeof line, f)) {
                if (!strncmp(line, "Seccomp:", 8)) printf("seccomp_mode=%d\n", atoi(line + 8));
            }
        } else {
            printf("%s=UNKNOWN_PROBE\n", p);
        }
    }
    return 0;
}
