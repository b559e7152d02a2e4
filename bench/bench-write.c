/* The writer of the log throughput rows (bench/bench.py, issue 14): writes BYTES in
 * writes of WRITE bytes (default 64 KiB) to OUT ("-" = standard output) as fast as it
 * can, then reports on standard error, one line: "bench-write TAG bytes=N ns=T"
 * (CLOCK_MONOTONIC around the writes). LINE > 0: the blocks are lines of LINE bytes
 * ending in '\n'; 0: zeros, as dd if=/dev/zero does. WRITE = LINE is the writer most
 * services are: one write(2) per line (Go's log, Python's unbuffered logging, printf on
 * a line-buffered stdout). Built static (gcc -static) into the bench's busybox root,
 * since busybox's dd and date cannot time themselves.
 *
 *     bench-write TAG BYTES LINE OUT [WRITE]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char block[65536];

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: bench-write TAG BYTES LINE OUT [WRITE]\n");
        return 2;
    }
    long long total = atoll(argv[2]);
    int line = atoi(argv[3]);
    size_t chunk = argc == 6 ? (size_t)atol(argv[5]) : sizeof block;
    if (chunk == 0 || chunk > sizeof block || sizeof block % chunk != 0) {
        fprintf(stderr, "bench-write: WRITE must divide %zu\n", sizeof block);
        return 2;
    }
    int fd = strcmp(argv[4], "-") == 0 ? 1 : open(argv[4], O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(argv[4]);
        return 1;
    }
    if (line > 0) {
        for (size_t i = 0; i < sizeof block; i++)
            block[i] = (i + 1) % (size_t)line == 0 ? '\n' : 'a' + (char)(i % 26);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    long long done = 0;
    while (done < total) {
        size_t at = (size_t)(done % (long long)sizeof block);
        size_t want = chunk - at % chunk;
        if ((long long)want > total - done)
            want = (size_t)(total - done);
        ssize_t n = write(fd, block + at, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("write");
            return 1;
        }
        done += n;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    fprintf(stderr, "bench-write %s bytes=%lld ns=%lld\n", argv[1], done, ns);
    return 0;
}
