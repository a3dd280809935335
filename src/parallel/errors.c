/* Errors said once: rank 0's message to every rank with a non-blocking broadcast (errors.h). */
#include "parallel/errors.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cascade/cascade.h"

#define ERROR_BYTES 1024 /* longer messages are compared on their first 1023 bytes */

void cascade_par_error_once(MPI_Comm comm, const char *msg, double patience) {
    int rank = 0, size = 1;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS) size = 1;
    static char root[ERROR_BYTES];
    memset(root, 0, sizeof root);
    if (rank == 0) snprintf(root, sizeof root, "%s", msg ? msg : "");
    int done = size == 1;
    MPI_Request req;
    if (!done && MPI_Ibcast(root, ERROR_BYTES, MPI_CHAR, 0, comm, &req) == MPI_SUCCESS) {
        double until = cascade_now() + patience;
        struct timespec nap = {0, 1000000};
        while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done && cascade_now() < until)
            nanosleep(&nap, NULL);
    }
    if (rank == 0 || !msg || !*msg) return;
    if (done && strncmp(root, msg, ERROR_BYTES - 1) == 0) return; /* said by rank 0 */
    fprintf(stderr, "cascade: rank %d: error: %s\n", rank, msg);
}
