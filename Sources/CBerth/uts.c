// Changing a live container's hostname without moving the caller: a thread of
// our own joins the container's UTS namespace, sets the name, and ends.

#define _GNU_SOURCE
#include "cberth_uts.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

struct sethostname_job {
    int nsfd;
    const char *name;
    size_t len;
    int result;
};

static void *sethostname_thread(void *arg) {
    struct sethostname_job *job = arg;
    if (setns(job->nsfd, CLONE_NEWUTS) < 0) {
        job->result = -errno;
        return NULL;
    }
    job->result = sethostname(job->name, job->len) < 0 ? -errno : 0;
    return NULL;
}

int cberth_sethostname_in(int nsfd, const char *name, size_t len) {
    struct sethostname_job job = { nsfd, name, len, 0 };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, sethostname_thread, &job);
    if (rc != 0) return -rc;
    pthread_join(thread, NULL);
    return job.result;
}
