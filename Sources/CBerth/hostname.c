// Reading and setting the hostname of another UTS namespace without moving the
// caller. setns(CLONE_NEWUTS) is allowed in a multithreaded process, and only
// moves the calling thread, so a thread of our own joins, does the one call, and ends.

#define _GNU_SOURCE
#include "cberth.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

struct hostname_job {
    int nsfd;
    char *buf;         // read: where the name goes
    const char *name;  // set: the new name
    size_t len;
    int result;
};

static void *hostname_thread(void *arg) {
    struct hostname_job *job = arg;
    if (setns(job->nsfd, CLONE_NEWUTS) < 0) {
        job->result = -errno;
        return NULL;
    }
    int rc = job->name ? sethostname(job->name, job->len) : gethostname(job->buf, job->len);
    job->result = rc < 0 ? -errno : 0;
    return NULL;
}

static int run_in_uts(struct hostname_job *job) {
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, hostname_thread, job);
    if (rc != 0) return -rc;
    pthread_join(thread, NULL);
    return job->result;
}

int cberth_hostname_in(int nsfd, char *buf, size_t len) {
    if (len == 0) return -EINVAL;
    struct hostname_job job = { nsfd, buf, NULL, len, 0 };
    int rc = run_in_uts(&job);
    buf[len - 1] = 0;
    return rc;
}

int cberth_sethostname_in(int nsfd, const char *name, size_t len) {
    struct hostname_job job = { nsfd, NULL, name, len, 0 };
    return run_in_uts(&job);
}
