/* Outputs of a command (CONTRACT "Nothing a user gave is lost"): refused before any work when
 * one is an input or exists without --force; written to OUTPUT.tmp and renamed once, by rank 0,
 * when every rank succeeded. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cascade/h5io.h"
#include "io/fsops.h"

cascade_status cascade_output_tmp(const char *path, char *tmp, size_t cap) {
    if (snprintf(tmp, cap, "%s.tmp", path) >= (int)cap)
        return cascade_fail(CASCADE_EIO, "%.200s...: path too long", path);
    return CASCADE_OK;
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* `out` (or its .tmp, written first) is the existing file `in`? */
static cascade_status check_not_input(const char *out, const char *in) {
    struct stat si, so;
    char tmp[PATH_MAX + 8];
    if (!in || stat(in, &si) != 0) return CASCADE_OK; /* a missing input is the command's error */
    if (stat(out, &so) == 0 && same_file(&so, &si))
        return cascade_fail(CASCADE_EUSAGE, "output %s is the input %s (the same file); choose another output "
                            "(nothing was written)", out, in);
    CASCADE_TRY(cascade_output_tmp(out, tmp, sizeof tmp));
    if (stat(tmp, &so) == 0 && same_file(&so, &si))
        return cascade_fail(CASCADE_EUSAGE, "output %s is written first to %s, which is the input %s; choose "
                            "another output (nothing was written)", out, tmp, in);
    return CASCADE_OK;
}

static cascade_status check_outputs(const char *model, const char *const *inputs, int n_inputs,
                                    const char *const *outputs, int n_outputs, int force) {
    char resolved[PATH_MAX] = "";
    if (model && cascade_ckpt_resolve(model, resolved, sizeof resolved) != CASCADE_OK) {
        resolved[0] = 0; /* the command reports a missing model itself */
        cascade_clear_error();
    }
    for (int o = 0; o < n_outputs; o++) {
        const char *out = outputs[o];
        if (!out) continue;
        if (model) CASCADE_TRY(check_not_input(out, model));
        if (resolved[0]) CASCADE_TRY(check_not_input(out, resolved));
        for (int i = 0; i < n_inputs; i++) CASCADE_TRY(check_not_input(out, inputs[i]));
        struct stat sb;
        if (lstat(out, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode))
            return cascade_fail(CASCADE_EUSAGE, "output %s is a directory; give a file name", out);
        if (!force)
            return cascade_fail(CASCADE_EUSAGE, "output %s exists; give --force to replace it (nothing was "
                                "written)", out);
    }
    return CASCADE_OK;
}

cascade_status cascade_outputs_check(const char *model, const char *const *inputs, int n_inputs,
                                     const char *const *outputs, int n_outputs, int force, MPI_Comm comm) {
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "output check: invalid MPI communicator");
    cascade_status local = rank == 0 ? check_outputs(model, inputs, n_inputs, outputs, n_outputs, force) : CASCADE_OK;
    return h5_agree(comm, local);
}

cascade_status cascade_output_finish(const char *tmp, const char *path, cascade_status local, MPI_Comm comm) {
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "%s: invalid MPI communicator", path);
    cascade_status st = h5_agree(comm, local);
    if (st == CASCADE_OK) {
        cascade_status mine = CASCADE_OK;
        if (rank == 0) mine = fs_fsync_file(tmp);
        if (rank == 0 && mine == CASCADE_OK) mine = fs_rename_durable(tmp, path);
        st = h5_agree(comm, mine);
    }
    if (st != CASCADE_OK && rank == 0) unlink(tmp); /* no half-written output is left */
    return st;
}
