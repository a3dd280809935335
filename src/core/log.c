/* Rank-0 logging and monotonic timers. */
#include "cascade/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int log_rank = 0;
static int log_quiet = 0;

void cascade_log_set_rank(int rank) { log_rank = rank; }
int cascade_log_rank(void) { return log_rank; }
void cascade_log_set_quiet(int quiet) { log_quiet = quiet; }

void cascade_log(const char *fmt, ...) {
    if (log_rank != 0 || log_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

double cascade_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
