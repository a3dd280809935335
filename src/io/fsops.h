/* File-system steps shared by the I/O layer, the run directory and the CLI (fsops.c,
 * outputs.c, runlock.c); messages name the path and the system error. */
#ifndef CASCADE_IO_FSOPS_H
#define CASCADE_IO_FSOPS_H

#include <mpi.h>
#include <stddef.h>
#include <stdio.h>

#include "cascade/core.h"

/* All ranks of comm return the same status: the first failing rank's code and message
 * ("rank R: " prepended when R != 0). Collective; immediate for one rank. (common.c: needs
 * no HDF5, so the SMPI build's synthetic input uses it too.) */
cascade_status h5_agree(MPI_Comm comm, cascade_status local);

/* fsync of a file / of a directory (after a rename in it; file systems that cannot sync a
 * directory are tolerated). */
cascade_status fs_fsync_file(const char *path);
cascade_status fs_fsync_dir(const char *dir);
/* rename(from, to) then fsync of to's directory. */
cascade_status fs_rename_durable(const char *from, const char *to);
/* dir/name.tmp written (never through a link left there), fsynced, renamed to dir/name (which
 * replaces a symbolic link named dir/name instead of writing through it), directory fsynced. */
cascade_status fs_write_atomic(const char *dir, const char *name, const char *text);
/* Directory part of path ("." when none) into dir[cap]; returns the name part. */
const char *fs_split(const char *path, char *dir, size_t cap);
/* Copies the (small) file `from` to `to` through fs_write_atomic. */
cascade_status fs_copy_atomic(const char *from, const char *to);

/* ---- outputs of a command (outputs.c): checked before any work, replaced atomically ---- */
/* Refuses, before anything is written: an output that is one of the inputs (the same file by
 * st_dev and st_ino; also when OUTPUT.tmp, written first, is one) and, unless `force`, an
 * output that exists. `model` (may be NULL) is a run directory or checkpoint, resolved to the
 * checkpoint file it names. NULL inputs and outputs are skipped. Rank 0 decides; every rank
 * returns its status (CASCADE_EUSAGE, message naming both paths / saying --force). */
cascade_status cascade_outputs_check(const char *model, const char *const *inputs, int n_inputs,
                                     const char *const *outputs, int n_outputs, int force, MPI_Comm comm);
/* PATH.tmp into tmp[cap]: where an output is written before it is renamed. */
cascade_status cascade_output_tmp(const char *path, char *tmp, size_t cap);
/* Ends an output written to `tmp` by some rank: when `local` is OK on every rank, rank 0 renames
 * tmp to `path` (durably); otherwise rank 0 removes tmp. Collective; the status is agreed. */
cascade_status cascade_output_finish(const char *tmp, const char *path, cascade_status local, MPI_Comm comm);

/* ---- run-directory lock (runlock.c) ---- */
/* Rank 0 creates `rundir` if missing and takes an exclusive fcntl lock on RUNDIR/.lock (which
 * then holds "PID HOST"); all ranks return the outcome. Held until cascade_rundir_unlock or the
 * process ends. Another holder: CASCADE_EUSAGE "RUNDIR is in use by PID N on HOST (lock
 * RUNDIR/.lock)". *fd is the lock's descriptor on rank 0, -1 elsewhere. */
cascade_status cascade_rundir_lock(const char *rundir, MPI_Comm comm, int *fd);
/* Empties the lock file (a clean exit) and releases the lock; -1 is ignored. */
void cascade_rundir_unlock(int fd);

#endif
