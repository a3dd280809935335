/* A timeline of what one process did: complete events (name, category, start, duration) in a
 * buffer allocated once, for `cascade train --timeline FILE` (a Chrome/Perfetto trace; the
 * parallel layer gathers every rank's events into one file). Free of MPI. Recording is off
 * until cascade_trace_start; while off, cascade_trace_add costs one branch. */
#ifndef CASCADE_TRACE_H
#define CASCADE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "cascade/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CASCADE_TRACE_NAME 48 /* event names are copied, cut to this many bytes */

/* Starts recording into a buffer of `capacity` events (about 80 bytes each); events past it
 * are counted as dropped, not recorded (no allocation while training). */
cascade_status cascade_trace_start(int64_t capacity);
/* 1 while recording. */
int cascade_trace_on(void);
/* Records an event that began at t0 and ended at t1 (cascade_now() seconds). `cat` is a
 * static string (the event's lane: "forward", "backward", "reduce", ...). */
void cascade_trace_add(const char *cat, const char *name, double t0, double t1);
/* The same with the name built from two parts ("net.layer"). */
void cascade_trace_add2(const char *cat, const char *a, const char *b, double t0, double t1);
/* Events recorded and dropped so far. */
int64_t cascade_trace_count(void);
int64_t cascade_trace_dropped(void);
/* Wall-clock time (seconds since the epoch) at which cascade_now() read `t`: ranks on
 * different nodes share the wall clock, not the monotonic one. */
double cascade_trace_wall(double t);
/* The recorded events as Chrome trace JSON objects separated by ",\n" (no brackets), with
 * pid = `pid` and timestamps in microseconds after `origin_wall` (a wall-clock time); a
 * metadata event names the process "rank PID". Returns a malloc'd string (NULL + message when
 * out of memory) and its length. */
char *cascade_trace_json(int pid, double origin_wall, size_t *len);
/* The earliest event's wall-clock time (or now when there is none). */
double cascade_trace_first_wall(void);
/* Stops recording and frees the buffer. */
void cascade_trace_stop(void);

#ifdef __cplusplus
}
#endif

#endif
