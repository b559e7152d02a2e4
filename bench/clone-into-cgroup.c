// What CLONE_INTO_CGROUP saves a container start on cgroup v2 (docs/benchmarks.md, issue 16):
// a child made by fork and moved by a write of its pid to cgroup.procs, against one made
// by clone3 inside the cgroup, each after 100 ms of quiet (the write's RCU grace period
// is waited for after a quiet spell), interleaved.
//
//   gcc -O2 -o /tmp/cic bench/clone-into-cgroup.c && /tmp/cic [CGROUP2_MOUNT [RUNS]]
//
// CGROUP2_MOUNT: /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one
// (no controllers needed: the grace period is the kernel's cgroup_threadgroup_rwsem,
// shared by every hierarchy). Makes and removes one cgroup of its own there. As root.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
struct ca { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup; };
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "/sys/fs/cgroup/unified";
    int n = argc > 2 ? atoi(argv[2]) : 40;
    char dir[256], procs[300];
    snprintf(dir, sizeof dir, "%s/bench-cic-%d", root, getpid());
    if (mkdir(dir, 0755)) { perror("mkdir"); return 1; }
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    double *w = calloc(n, sizeof *w), *c = calloc(n, sizeof *c);
    for (int i = 0; i < n; i++) {
        for (int mode = 0; mode < 2; mode++) {
            int m = (i % 2) ? 1 - mode : mode;
            usleep(100000);
            double t0 = now();
            pid_t pid;
            if (m == 0) {
                pid = fork();
                if (pid == 0) { pause(); _exit(0); }
                int fd = open(procs, O_WRONLY | O_CLOEXEC);
                char buf[16]; int len = snprintf(buf, sizeof buf, "%d", pid);
                if (write(fd, buf, len) != len) { perror("write"); return 1; }
                close(fd);
            } else {
                struct ca a; memset(&a, 0, sizeof a);
                a.flags = 0x200000000ULL; a.exit_signal = SIGCHLD; a.cgroup = dfd;
                pid = syscall(SYS_clone3, &a, sizeof a);
                if (pid == 0) { pause(); _exit(0); }
                if (pid < 0) { perror("clone3"); return 1; }
            }
            double t1 = now();
            (m == 0 ? w : c)[i] = t1 - t0;
            kill(pid, SIGKILL); waitpid(pid, NULL, 0);
        }
    }
    rmdir(dir);
    qsort(w, n, sizeof *w, cmp); qsort(c, n, sizeof *c, cmp);
    printf("fork + cgroup.procs write: median %.3f ms (min %.3f, max %.3f)\n", w[n/2], w[0], w[n-1]);
    printf("clone3 CLONE_INTO_CGROUP:  median %.3f ms (min %.3f, max %.3f)\n", c[n/2], c[0], c[n-1]);
    return 0;
}
