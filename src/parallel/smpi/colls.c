/* Blocking collectives behind the non-blocking names, for the SMPI build (see colls.h). */
#define CASCADE_SMPI_COLLS_IMPL
#include "parallel/smpi/colls.h"

/* A request that the first MPI_Test or MPI_Wait finds complete: a barrier of one rank. */
static int completed(int rc, MPI_Request *req) {
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Ibarrier(MPI_COMM_SELF, req);
}

int cascade_smpi_iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                            MPI_Comm comm, MPI_Request *req) {
    return completed(MPI_Allreduce(sendbuf, recvbuf, count, type, op, comm), req);
}

int cascade_smpi_ireduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, int root,
                         MPI_Comm comm, MPI_Request *req) {
    return completed(MPI_Reduce(sendbuf, recvbuf, count, type, op, root, comm), req);
}

int cascade_smpi_ibcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm, MPI_Request *req) {
    return completed(MPI_Bcast(buf, count, type, root, comm), req);
}
