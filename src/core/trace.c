/* Timeline recorder (see trace.h). Events are added by the thread that runs the training
 * loop (ops parallelise inside a layer, never across layers), so no locking. */
#include "cascade/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *cat;
    char name[CASCADE_TRACE_NAME];
    double t0, dur;
} trace_event;

static trace_event *events;
static int64_t n_events, cap_events, n_dropped;
static double wall_minus_mono; /* wall-clock minus monotonic seconds, read once at start */

cascade_status cascade_trace_start(int64_t capacity) {
    cascade_trace_stop();
    if (capacity < 1) capacity = 1;
    events = malloc((size_t)capacity * sizeof *events);
    if (!events) return cascade_fail(CASCADE_EINTERNAL, "out of memory for a timeline of %lld events", (long long)capacity);
    cap_events = capacity;
    struct timespec w;
    clock_gettime(CLOCK_REALTIME, &w);
    wall_minus_mono = (double)w.tv_sec + 1e-9 * (double)w.tv_nsec - cascade_now();
    return CASCADE_OK;
}

int cascade_trace_on(void) { return events != NULL; }

static trace_event *next_event(const char *cat, double t0, double t1) {
    if (!events) return NULL;
    if (n_events == cap_events) {
        n_dropped++;
        return NULL;
    }
    trace_event *e = &events[n_events++];
    e->cat = cat;
    e->t0 = t0;
    e->dur = t1 > t0 ? t1 - t0 : 0;
    return e;
}

void cascade_trace_add(const char *cat, const char *name, double t0, double t1) {
    trace_event *e = next_event(cat, t0, t1);
    if (e) snprintf(e->name, sizeof e->name, "%s", name);
}

void cascade_trace_add2(const char *cat, const char *a, const char *b, double t0, double t1) {
    trace_event *e = next_event(cat, t0, t1);
    if (e) snprintf(e->name, sizeof e->name, "%s.%s", a, b);
}

int64_t cascade_trace_count(void) { return n_events; }
int64_t cascade_trace_dropped(void) { return n_dropped; }
double cascade_trace_wall(double t) { return t + wall_minus_mono; }

double cascade_trace_first_wall(void) {
    double first = cascade_now();
    for (int64_t i = 0; i < n_events; i++)
        if (events[i].t0 < first) first = events[i].t0;
    return cascade_trace_wall(first);
}

/* s as a JSON string body: quotes, backslashes and control characters escaped. */
static size_t json_escape(char *out, const char *s) {
    size_t k = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') out[k++] = '\\', out[k++] = (char)c;
        else if (c < 0x20) k += (size_t)sprintf(out + k, "\\u%04x", c);
        else out[k++] = (char)c;
    }
    out[k] = 0;
    return k;
}

char *cascade_trace_json(int pid, double origin_wall, size_t *len) {
    /* per event: the fixed text (~110 bytes), numbers, the name escaped (at most 6x) */
    size_t cap = 256 + (size_t)n_events * (160 + 6 * CASCADE_TRACE_NAME);
    char *buf = malloc(cap), esc[6 * CASCADE_TRACE_NAME + 1];
    if (!buf) {
        cascade_fail(CASCADE_EINTERNAL, "out of memory writing a timeline of %lld events", (long long)n_events);
        return NULL;
    }
    size_t k = (size_t)snprintf(buf, cap,
                                "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":"
                                "\"rank %d\"}},\n{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_sort_index\","
                                "\"args\":{\"sort_index\":%d}}",
                                pid, pid, pid, pid);
    for (int64_t i = 0; i < n_events; i++) {
        const trace_event *e = &events[i];
        json_escape(esc, e->name);
        double ts = (cascade_trace_wall(e->t0) - origin_wall) * 1e6;
        k += (size_t)snprintf(buf + k, cap - k,
                              ",\n{\"ph\":\"X\",\"pid\":%d,\"tid\":0,\"cat\":\"%s\",\"name\":\"%s\",\"ts\":%.3f,"
                              "\"dur\":%.3f}",
                              pid, e->cat, esc, ts, e->dur * 1e6);
    }
    if (n_dropped)
        k += (size_t)snprintf(buf + k, cap - k,
                              ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"dropped_events\",\"args\":{\"count\":"
                              "%lld}}",
                              pid, (long long)n_dropped);
    *len = k;
    return buf;
}

void cascade_trace_stop(void) {
    free(events);
    events = NULL;
    n_events = cap_events = n_dropped = 0;
}
