/* pread() of data set rows, in the background (prefetch.h). */
#include "data/prefetch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* bytes at `at`, retrying short reads and EINTR; 0, errno, or -1 at end of file */
static int read_at(int fd, char *buf, int64_t bytes, int64_t at) {
    while (bytes > 0) {
        ssize_t got = pread(fd, buf, (size_t)bytes, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return errno ? errno : EIO;
        if (got == 0) return -1;
        buf += got, bytes -= got, at += got;
    }
    return 0;
}

/* Every data set's rows; runs of consecutive rows in one pread. */
static void read_rows(cascade_prefetch *p) {
    p->err = 0;
    for (int k = 0; k < p->n_sets; k++) {
        int64_t rb = p->row_bytes[k];
        for (int64_t j = 0; j < p->n;) {
            int64_t run = 1;
            while (j + run < p->n && p->rows[j + run] == p->rows[j] + run) run++;
            int e = read_at(p->fd, (char *)p->seg[k] + j * rb, run * rb, p->offset[k] + p->rows[j] * rb);
            if (e) {
                p->err = e, p->err_set = k, p->err_row = p->rows[j];
                return;
            }
            j += run;
        }
    }
}

static void *worker(void *arg) {
    cascade_prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->busy && !p->quit) pthread_cond_wait(&p->cv, &p->mu);
        if (p->quit) break;
        pthread_mutex_unlock(&p->mu);
        read_rows(p);
        pthread_mutex_lock(&p->mu);
        p->busy = 0;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

cascade_status cascade_prefetch_open(cascade_prefetch *p, const char *path, int threaded) {
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0) return cascade_fail(CASCADE_EIO, "%s: cannot open for prefetching: %s", path, strerror(errno));
    if (!threaded) return CASCADE_OK;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    /* signals (SIGINT/SIGTERM stop requests) go to the other threads, never interrupt a read */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, worker, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) return cascade_fail(CASCADE_EINTERNAL, "%s: cannot start the prefetch thread: %s", path, strerror(rc));
    p->threaded = 1;
    return CASCADE_OK;
}

void cascade_prefetch_read(cascade_prefetch *p, const int64_t *rows, int64_t n) {
    cascade_prefetch_wait(p);
    p->rows = rows, p->n = n;
    read_rows(p);
}

void cascade_prefetch_start(cascade_prefetch *p, const int64_t *rows, int64_t n) {
    cascade_prefetch_wait(p);
    if (!p->threaded) {
        cascade_prefetch_read(p, rows, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->rows = rows, p->n = n;
    p->busy = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void cascade_prefetch_wait(cascade_prefetch *p) {
    if (!p->threaded) return;
    pthread_mutex_lock(&p->mu);
    while (p->busy) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

cascade_status cascade_prefetch_status(const cascade_prefetch *p, const char *path, const char *const *names) {
    if (!p->err) return CASCADE_OK;
    return cascade_fail(CASCADE_EIO, "%s: data set '%s' row %lld: %s", path, names[p->err_set],
                        (long long)p->err_row, p->err < 0 ? "the file ends before it (truncated?)" : strerror(p->err));
}

void cascade_prefetch_close(cascade_prefetch *p) {
    if (p->threaded) {
        pthread_mutex_lock(&p->mu);
        p->quit = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu); /* the thread finishes a running read first */
        pthread_join(p->thread, NULL);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        p->threaded = 0;
    }
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
}
