// Reading the hostname of another UTS namespace without moving the caller.
// setns(CLONE_NEWUTS) is allowed in a multithreaded process, and only moves the
// calling thread, so a thread of our own joins, reads and ends.

#define _GNU_SOURCE
#include "cberth.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

struct hostname_job {
    int nsfd;
    char *buf;
    size_t len;
    int result;
};

static void *hostname_thread(void *arg) {
    struct hostname_job *job = arg;
    if (setns(job->nsfd, CLONE_NEWUTS) < 0) {
        job->result = -errno;
        return NULL;
    }
    job->result = gethostname(job->buf, job->len) < 0 ? -errno : 0;
    return NULL;
}

int cberth_hostname_in(int nsfd, char *buf, size_t len) {
    if (len == 0) return -EINVAL;
    struct hostname_job job = { nsfd, buf, len, 0 };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, hostname_thread, &job);
    if (rc != 0) return -rc;
    pthread_join(thread, NULL);
    buf[len - 1] = 0;
    return job.result;
}
