/* `cascade simulate`: ranks generate contiguous blocks of events and write them in rounds
 * of `block` events with collective hyperslab writes into OUT.tmp, renamed at the end.
 * Memory stays bounded by one block per rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/parallel.h"
#include "sim/sim.h"

static size_t elem_size(cascade_h5_elem t) { return t == CASCADE_H5_U8 ? 1 : 4; }

static int64_t row_numel(const sim_field *f) {
    int64_t n = 1;
    for (int i = 0; i < f->ndim; i++) n *= f->dims[i];
    return n;
}

static cascade_status write_attrs(cascade_h5writer *w, const sim_kind *k, const void *cfg, const sim_run *run) {
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "generator", "cascade simulate"));
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "version", CASCADE_VERSION));
    CASCADE_TRY(cascade_h5w_attr_int(w, "/", "seed", (int64_t)run->seed));
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "kind", k->kind));
    CASCADE_TRY(cascade_h5w_attr_int(w, "/", "events", run->n));
    sim_attr a[SIM_MAX_ATTRS];
    int na = k->attrs ? k->attrs(cfg, a) : 0;
    for (int i = 0; i < na; i++) {
        if (a[i].is_string)
            CASCADE_TRY(cascade_h5w_attr_string(w, "/", a[i].name, a[i].text));
        else
            CASCADE_TRY(cascade_h5w_attr_double(w, "/", a[i].name, a[i].number));
    }
    return CASCADE_OK;
}

cascade_status cascade_simulate(const sim_kind *k, const void *cfg, const sim_run *run, const char *out,
                                MPI_Comm comm, double *gen_seconds, double *total_seconds) {
    int rank = cascade_par_rank(comm), size = cascade_par_size(comm);
    double t0 = cascade_now(), t_gen = 0;
    sim_field fields[SIM_MAX_FIELDS];
    int nf = k->fields(cfg, fields);
    int64_t first, last;
    cascade_par_block(run->n, rank, size, &first, &last);
    int64_t mine = last - first;
    int64_t block = run->block > 0 ? run->block : 4096;
    int64_t most = (run->n + size - 1) / size; /* rounds are agreed: the largest share */
    int64_t rounds = (most + block - 1) / block;
    void *bufs[SIM_MAX_FIELDS] = {0};
    cascade_status st = CASCADE_OK;
    for (int f = 0; f < nf && !st; f++) {
        bufs[f] = cascade_alloc((size_t)block * (size_t)row_numel(&fields[f]) * elem_size(fields[f].type), fields[f].name);
        if (!bufs[f]) st = CASCADE_EINTERNAL;
    }
    if ((st = cascade_par_agree(comm, st, NULL, NULL, "allocating its event buffers"))) {
        for (int f = 0; f < nf; f++) cascade_free(bufs[f]);
        return st;
    }
    cascade_h5writer *w = NULL;
    st = cascade_h5w_create(out, comm, &w);
    for (int f = 0; f < nf && !st; f++) {
        int64_t dims[5] = {run->n};
        for (int i = 0; i < fields[f].ndim; i++) dims[i + 1] = fields[f].dims[i];
        cascade_shape sh = cascade_shape_make(fields[f].ndim + 1, dims);
        st = cascade_h5w_create_rows_typed(w, fields[f].name, &sh, fields[f].type, run->compress);
    }
    if (!st) st = write_attrs(w, k, cfg, run);
    for (int64_t r = 0; r < rounds && !st; r++) {
        int64_t start = first + r * block;
        int64_t count = start < last ? (last - start < block ? last - start : block) : 0;
        double tg = cascade_now();
#pragma omp parallel for schedule(dynamic, 16)
        for (int64_t e = 0; e < count; e++) {
            void *rows[SIM_MAX_FIELDS];
            for (int f = 0; f < nf; f++)
                rows[f] = (char *)bufs[f] + (size_t)e * (size_t)row_numel(&fields[f]) * elem_size(fields[f].type);
            k->generate(cfg, run->seed, start + e, rows);
        }
        t_gen += cascade_now() - tg;
        for (int f = 0; f < nf && !st; f++)
            st = cascade_h5w_write_rows_typed(w, fields[f].name, count ? start : 0, count, bufs[f], fields[f].type);
    }
    (void)mine;
    if (!st)
        st = cascade_h5w_commit(w);
    else if (w)
        cascade_h5w_abort(w);
    for (int f = 0; f < nf; f++) cascade_free(bufs[f]);
    if (gen_seconds) *gen_seconds = t_gen;
    if (total_seconds) *total_seconds = cascade_now() - t0;
    return st;
}
