/* Compute regions: a layer's forward or backward (and a few other pure computations),
 * bracketed so that a simulator can charge the simulated clock a representative time for
 * them instead of this run's measurement.
 *
 * In the normal build the calls do nothing and every body runs (src/core/region.c). The SMPI
 * build replaces that file with src/parallel/smpi/region.c (chosen by CMake, no #ifdef):
 * there a region's first samples, taken by any simulated rank, are timed, and every later
 * execution of the same region (kind, name, n) by any rank is charged their median — or the
 * times of a calibration file. Without it N simulated ranks each charge their own noisy
 * measurement, and a synchronous step is the maximum of N such bursts: the noise of the
 * machine running the simulation, not of the one it predicts (docs/scaling.md). Free of MPI. */
#ifndef CASCADE_CORE_REGION_H
#define CASCADE_CORE_REGION_H

#include <stddef.h>
#include <stdint.h>

/* Opens a region: `kind` ("forward", "backward", ...) and `name` (the layer's full name)
 * with n (samples or values) identify it. Returns 1: run the body; 0 (simulator only, when
 * `skippable` and the region's time is known): the time is charged, skip the body — its
 * outputs then keep whatever they held, which a skippable body must allow. Regions do not
 * nest and their bodies make no MPI call. */
int cascade_region_begin(const char *kind, const char *name, int64_t n, int skippable);
void cascade_region_end(void);

/* Memory that only skippable bodies read and write (the activation arena): cascade_alloc
 * normally; in a simulation that skips bodies, one block shared by all simulated ranks. */
void *cascade_region_alloc(size_t bytes, const char *what);
void cascade_region_free(void *p);

#endif
