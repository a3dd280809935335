/* Loading op test cases from reference files (see opcase.h). */
#include "opcase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int per_sample(const cascade_shape *full, cascade_shape *ps) {
    if (full->ndim < 1) return 0;
    *ps = cascade_shape_make(full->ndim - 1, full->d + 1);
    return 1;
}

int opcase_load(hid_t f, const char *name, opcase *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->group, sizeof c->group, "%s", name);
    hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
    if (g < 0) return 0;
    int ok = 0;
    long training = 1;
    th_attr_str(g, "type", c->type, sizeof c->type);
    th_attr_str(g, "spec", c->spec, sizeof c->spec);
    {
        snprintf(c->spec_line, sizeof c->spec_line, "%s", c->spec);
        for (char *t = c->spec_line; *t; t++)
            if (*t == '\n') *t = ' ';
    }
    th_attr_int(g, "training", &training);
    c->training = (int)training;
    c->step = 1;
    th_attr_int(g, "step", &c->step);
    c->rtol = 1e-5;
    th_attr_double(g, "rtol", &c->rtol);
    c->fd_rtol = 1e-6;
    th_attr_double(g, "fd_rtol", &c->fd_rtol);
    cascade_shape shapes[CASCADE_MAX_INPUTS], full;
    int n_in = 0;
    for (; n_in < CASCADE_MAX_INPUTS; n_in++) {
        char nm[16];
        snprintf(nm, sizeof nm, "in%d", n_in);
        c->in[n_in] = th_read(g, nm, &full);
        if (!c->in[n_in]) break;
        per_sample(&full, &shapes[n_in]);
        c->n = (int)full.d[0];
        snprintf(nm, sizeof nm, "din%d", n_in);
        c->has_din[n_in] = H5Lexists(g, nm, H5P_DEFAULT) > 0;
    }
    if (th_layer(&c->L, c->type, c->spec, n_in, shapes) != CASCADE_OK) {
        printf("%s: layer setup failed: %s\n", name, cascade_errmsg());
        goto done;
    }
    for (int p = 0; p < c->L.n_params; p++) {
        char nm[64];
        snprintf(nm, sizeof nm, "param/%s", c->L.params[p].name);
        c->param[p] = th_read(g, nm, &full);
        if (!c->param[p] || cascade_shape_numel(&full) != cascade_shape_numel(&c->L.params[p].shape)) {
            printf("%s: parameter %s missing or of wrong size in the reference\n", name, nm);
            goto done;
        }
    }
    c->out = th_read(g, "out", &full);
    if (c->out) { /* the op's inferred output shape must be the reference's */
        cascade_shape ref;
        char a[128], b[128];
        per_sample(&full, &ref);
        if (full.d[0] != c->n || !cascade_shape_equal(&ref, &c->L.out_shape)) {
            printf("%s: output shape %s per sample, the reference has %s\n", name,
                   cascade_shape_str(&c->L.out_shape, a, sizeof a), cascade_shape_str(&ref, b, sizeof b));
            goto done;
        }
    }
    c->dout = th_read(g, "dout", &full);
    for (int k = 0; k < n_in; k++) {
        char nm[16];
        snprintf(nm, sizeof nm, "w%d", k);
        c->w[k] = th_read(g, nm, &full);
        c->has_double |= c->w[k] != NULL;
    }
    c->saved_n = c->L.saved_per_sample * c->n + c->L.saved_fixed;
    /* with backward2's extra scratch (work2): the checks run every pass on one buffer */
    c->work_n = (c->L.work_per_sample + c->L.work2_per_sample) * c->n + c->L.work_fixed + c->L.work2_fixed;
    c->sample_ids = calloc((size_t)c->n + 1, sizeof(int64_t));
    for (int i = 0; i < c->n; i++) c->sample_ids[i] = i;
    ok = c->out != NULL;
    if (!ok) printf("%s: no 'out' in the reference\n", name);
done:
    H5Gclose(g);
    return ok;
}

void opcase_free(opcase *c) {
    for (int i = 0; i < CASCADE_MAX_INPUTS; i++) free(c->in[i]), free(c->w[i]);
    for (int i = 0; i < CASCADE_MAX_PARAMS; i++) free(c->param[i]);
    free(c->out);
    free(c->dout);
    free(c->sample_ids);
    cascade_layer_release(&c->L);
}

typedef struct {
    char names[1024][64];
    int n;
} name_list;

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    name_list *l = data;
    if (strncmp(name, "case", 4) == 0 && l->n < 1024) snprintf(l->names[l->n++], 64, "%s", name);
    return 0;
}

int opcase_each(const char *path, int (*fn)(hid_t f, opcase *c)) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        printf("cannot open reference file %s\n", path);
        return 1;
    }
    static name_list list;
    list.n = 0;
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, collect, &list);
    int failures = 0;
    for (int i = 0; i < list.n; i++) {
        opcase c;
        if (!opcase_load(f, list.names[i], &c)) {
            failures++;
        } else {
            failures += fn(f, &c);
        }
        opcase_free(&c);
    }
    H5Fclose(f);
    if (list.n == 0) {
        printf("no cases in %s\n", path);
        failures++;
    }
    printf("%d cases, %d failed\n", list.n, failures);
    return failures;
}
