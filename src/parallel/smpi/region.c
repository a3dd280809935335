/* Compute regions under SimGrid SMPI (replaces src/core/region.c in the SMPI build; see
 * core/region.h). SMPI normally times every computation between two MPI calls and charges it
 * to the rank's simulated clock. For a region we stop that timer, time the region ourselves,
 * and charge the simulated clock with smpi_execute (scaled by smpi/host-speed like
 * SMPI's own measurements):
 *   - each rank's first execution of a region (cold caches, first-touch page faults) is
 *     charged as measured and not sampled;
 *   - the next executions, by whichever ranks come first, are the region's samples
 *     (CASCADE_SMPI_REGION_SAMPLES, default 5), charged as measured;
 *   - every later execution by any rank is charged the samples' median.
 * With CASCADE_SMPI_SKIP=1 a skippable region whose time is known is not executed at all
 * (its time is charged), and the activation arena is one SMPI_SHARED_MALLOC block shared by
 * all simulated ranks: the values are meaningless, the timing is the calibrated one, and the
 * simulation of 1024 ranks fits in memory and minutes (bench/smpi/scaling.py uses it with a
 * calibration file).
 * The table of samples must be shared by all simulated ranks, which run in one process but
 * each with a private copy of this program's globals (SMPI's dlopen privatization). Its
 * address is passed through the process environment, which is not privatized. Simulated
 * ranks run one at a time (SimGrid's contexts), so the table needs no lock. */
#include <smpi/smpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cascade/core.h"
#include "core/region.h"

/* smpicc's helpers turn clock_gettime into SMPI's simulated clock (which also stops and
 * restarts SMPI's timer); the region needs the real CPU time of this thread. */
#undef clock_gettime

#define REGION_SLOTS 4096 /* distinct (kind, layer, n): a few per layer of every net */
#define REGION_MAX_SAMPLES 64
#define REGION_KEY 96

typedef struct {
    char key[REGION_KEY];
    int n_samples;
    double sample[REGION_MAX_SAMPLES];
    double median; /* valid once n_samples == wanted */
} region_entry;

typedef struct {
    int wanted;
    int record; /* append medians to CASCADE_SMPI_REGION_FILE */
    region_entry slot[REGION_SLOTS];
} region_table;

static region_table *table;           /* shared by every simulated rank */
static unsigned char seen[REGION_SLOTS]; /* this rank's executions per slot (privatized), saturating */
static double t_begin;
static int mode = -1; /* 1: regions charged as above; 0: CASCADE_SMPI_REGIONS=0, SMPI's own timing */

static int regions_on(void) {
    if (mode < 0) {
        const char *e = getenv("CASCADE_SMPI_REGIONS");
        mode = !(e && strcmp(e, "0") == 0);
    }
    return mode;
}

static double thread_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void load_calibration(region_table *t);

/* The shared table: created by the first rank to ask, found by the others. NULL when it
 * cannot be allocated (regions are then charged as measured). */
static region_table *shared_table(void) {
    if (table) return table;
    const char *addr = getenv("CASCADE_SMPI_REGION_TABLE");
    if (addr && sscanf(addr, "%p", (void **)&table) == 1 && table) return table;
    table = calloc(1, sizeof *table);
    if (!table) return NULL;
    const char *w = getenv("CASCADE_SMPI_REGION_SAMPLES");
    table->wanted = w ? atoi(w) : 5;
    if (table->wanted < 1) table->wanted = 1;
    if (table->wanted > REGION_MAX_SAMPLES) table->wanted = REGION_MAX_SAMPLES;
    char buf[32];
    snprintf(buf, sizeof buf, "%p", (void *)table);
    setenv("CASCADE_SMPI_REGION_TABLE", buf, 1);
    load_calibration(table);
    return table;
}

static int slot_of(region_table *t, const char *key);

/* CASCADE_SMPI_REGION_FILE: a calibration shared by several simulations (bench/smpi/scaling.py
 * records it once per job and mode on one rank, then every point charges the same compute).
 * Present: its medians are loaded as complete samples. Absent: created, and every median is
 * appended to it ("SECONDS<TAB>KEY" lines) as it becomes known. */
static void load_calibration(region_table *t) {
    const char *path = getenv("CASCADE_SMPI_REGION_FILE");
    if (!path || !*path) return;
    FILE *f = fopen(path, "r");
    if (!f) {
        t->record = 1;
        return;
    }
    char line[REGION_KEY + 64];
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        tab[strcspn(tab, "\n")] = 0;
        int i = slot_of(t, tab + 1);
        if (i < 0) break;
        t->slot[i].median = atof(line);
        t->slot[i].n_samples = t->wanted;
    }
    fclose(f);
}

static void record_median(const region_table *t, const region_entry *e) {
    FILE *f = t->record ? fopen(getenv("CASCADE_SMPI_REGION_FILE"), "a") : NULL;
    if (!f) return;
    fprintf(f, "%.9g\t%s\n", e->median, e->key);
    fclose(f);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The slot of `key` (inserted when new); -1 when the table is full. */
static int slot_of(region_table *t, const char *key) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (int probe = 0; probe < REGION_SLOTS; probe++) {
        int i = (int)((h + (uint64_t)probe) % REGION_SLOTS);
        if (!t->slot[i].key[0]) {
            snprintf(t->slot[i].key, REGION_KEY, "%s", key);
            return i;
        }
        if (strncmp(t->slot[i].key, key, REGION_KEY - 1) == 0) return i;
    }
    return -1;
}

static int skip_mode(void) {
    static int skip = -1;
    if (skip < 0) {
        const char *e = getenv("CASCADE_SMPI_SKIP");
        skip = e && strcmp(e, "1") == 0;
    }
    return skip;
}

static region_entry *open_entry; /* the region being timed (NULL: unknown slot) */
static int open_slot, open_skipped;

int cascade_region_begin(const char *kind, const char *name, int64_t n, int skippable) {
    open_entry = NULL, open_skipped = 0;
    if (!regions_on()) return 1;
    smpi_bench_end(); /* charges what ran since the last MPI call or region */
    region_table *t = shared_table();
    char key[REGION_KEY];
    snprintf(key, sizeof key, "%s|%s|%lld", kind, name, (long long)n);
    open_slot = t ? slot_of(t, key) : -1;
    if (open_slot >= 0) {
        open_entry = &t->slot[open_slot];
        if (skippable && skip_mode() && open_entry->n_samples >= t->wanted) {
            smpi_execute(open_entry->median);
            smpi_bench_begin();
            open_skipped = 1; /* charged: cascade_region_end has nothing to do */
            return 0;
        }
    }
    t_begin = thread_seconds();
    return 1;
}

void cascade_region_end(void) {
    if (!regions_on() || open_skipped) {
        open_skipped = 0;
        return;
    }
    double measured = thread_seconds() - t_begin, charge = measured;
    region_table *t = table;
    region_entry *e = open_entry;
    if (e) {
        int i = open_slot;
        if (seen[i] < 2) seen[i]++;
        if (e->n_samples >= t->wanted) {
            charge = e->median;
        } else if (seen[i] > 1) { /* a warm execution: one more sample */
            e->sample[e->n_samples++] = measured;
            if (e->n_samples == t->wanted) {
                double sorted[REGION_MAX_SAMPLES];
                memcpy(sorted, e->sample, (size_t)e->n_samples * sizeof(double));
                qsort(sorted, (size_t)e->n_samples, sizeof(double), by_value);
                e->median = e->n_samples % 2 ? sorted[e->n_samples / 2]
                                             : 0.5 * (sorted[e->n_samples / 2 - 1] + sorted[e->n_samples / 2]);
                record_median(t, e);
            }
        }
    }
    open_entry = NULL;
    smpi_execute(charge); /* charge x smpi/host-speed flops on this node (not smpi_execute_benched,
                           * which would restart SMPI's own timer) */
    smpi_bench_begin();
}

void *cascade_region_alloc(size_t bytes, const char *what) {
    if (!skip_mode()) return cascade_alloc(bytes, what);
    void *p = SMPI_SHARED_MALLOC(bytes);
    if (!p) cascade_fail(CASCADE_EINTERNAL, "out of memory for %s (%zu bytes, shared)", what, bytes);
    return p;
}

void cascade_region_free(void *p) {
    if (!p) return;
    if (skip_mode()) SMPI_SHARED_FREE(p);
    else cascade_free(p);
}
