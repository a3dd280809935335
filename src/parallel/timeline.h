/* `cascade train --timeline FILE`: every rank's recorded events (cascade/trace.h) gathered
 * into one Chrome/Perfetto trace on rank 0 (pid = rank, timestamps in microseconds after the
 * earliest event of any rank). */
#ifndef CASCADE_PARALLEL_TIMELINE_H
#define CASCADE_PARALLEL_TIMELINE_H

#include <mpi.h>

#include "cascade/core.h"

/* Collective. Writes `path` atomically (path.tmp, renamed) from rank 0; every rank returns
 * the same status. Stops the recording on every rank. */
cascade_status cascade_timeline_write(const char *path, MPI_Comm comm);

#endif
