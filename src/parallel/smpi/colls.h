/* SMPI build only (CMake CASCADE_SMPI=ON force-includes this into the library, so no source
 * changes): the non-blocking collectives of the gradient reducer are redirected to
 * cascade_smpi_*. SimGrid 3.32 implements MPI_Iallreduce, MPI_Ireduce and MPI_Ibcast as
 * linear exchanges (every rank sends its whole buffer to every other rank: N^2 messages),
 * which no real MPI does and which would dominate any prediction beyond a few dozen ranks.
 * The replacements run SMPI's blocking collectives (selected by smpi/coll-selector, e.g.
 * Open MPI's decision rules) at the moment the bucket is posted and return a request that
 * is already complete. The prediction thus keeps the real algorithms' costs but not the
 * overlap of a bucket's reduction with the rest of backward: pessimistic by at most the
 * communication time (docs/scaling.md). */
#ifndef CASCADE_PARALLEL_SMPI_COLLS_H
#define CASCADE_PARALLEL_SMPI_COLLS_H

#include <mpi.h>

int cascade_smpi_iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                            MPI_Comm comm, MPI_Request *req);
int cascade_smpi_ireduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, int root,
                         MPI_Comm comm, MPI_Request *req);
int cascade_smpi_ibcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm, MPI_Request *req);

#ifndef CASCADE_SMPI_COLLS_IMPL
#define MPI_Iallreduce cascade_smpi_iallreduce
#define MPI_Ireduce cascade_smpi_ireduce
#define MPI_Ibcast cascade_smpi_ibcast
#endif

#endif
