/* Errors said once (issue #21): ranks that fail alike (a job file, a data set every rank reads)
 * would print the same message once per rank. */
#ifndef CASCADE_PARALLEL_ERRORS_H
#define CASCADE_PARALLEL_ERRORS_H

#include <mpi.h>

/* Collective over comm, at the end of a command (every rank reaches it). Rank 0 has printed its
 * own error already; another rank prints `msg` (non-empty when it failed) only when it differs
 * from rank 0's, or when rank 0 does not join within `patience` seconds (a rank stuck
 * elsewhere must not swallow the message). */
void cascade_par_error_once(MPI_Comm comm, const char *msg, double patience);

#endif
