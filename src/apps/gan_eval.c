/* `cascade evaluate` on a gan / wgan / wgan-gp run (see gan_eval.h, docs/gan-evaluation.md).
 * The held-out real samples (--data, the run's valid file or its valid_fraction split) are
 * written to WORK/real.h5 with their conditions; `cascade generate` draws as many samples
 * with those conditions into WORK/generated.h5; both are read back in physical units and
 * compared observable by observable. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade/h5io.h"
#include "data/data.h"
#include "apps/apps.h"
#include "apps/gan_eval.h"

#define LAT_BINS 12
#define LAT_WIDTH_M 750.0

int cascade_ckpt_is_gan(const char *ckpt, MPI_Comm comm) {
    cascade_h5file *f;
    if (cascade_ckpt_open(ckpt, comm, &f)) return 0;
    cascade_ckpt_meta meta = {0};
    cascade_job job;
    int gan = 0;
    if (!cascade_ckpt_read_meta(f, &meta) && !cascade_job_parse(meta.job, ckpt, NULL, 0, &job)) {
        gan = job.kind == JOB_GAN || job.kind == JOB_WGAN || job.kind == JOB_WGAN_GP;
        cascade_job_free(&job);
    }
    cascade_ckpt_meta_free(&meta);
    cascade_h5_close(f);
    return gan;
}

/* One side of the comparison: the job's inputs (and conditions) as read, physical units. */
typedef struct {
    const char *file;
    int64_t n;
    int n_sets;
    char names[2 * CASCADE_MAX_NAMES][64];
    cascade_shape shape[2 * CASCADE_MAX_NAMES]; /* full (n, ...) */
    float *v[2 * CASCADE_MAX_NAMES];
    float *energy; /* incident energy [GeV] per sample, or NULL */
} sample_side;

static void side_free(sample_side *s) {
    for (int i = 0; i < s->n_sets; i++) cascade_free(s->v[i]);
    cascade_free(s->energy);
    memset(s, 0, sizeof *s);
}

static int side_find(const sample_side *s, const char *name) {
    for (int i = 0; i < s->n_sets; i++)
        if (strcmp(s->names[i], name) == 0) return i;
    return -1;
}

/* Data set `name` of f: rows[0..n) (sorted file rows) or the first n rows (rows NULL). */
static cascade_status read_set(cascade_h5file *f, const char *name, const int64_t *rows, int64_t n,
                               const cascade_shape *want, sample_side *s) {
    cascade_h5_info info;
    CASCADE_TRY(cascade_h5_info_of(f, name, &info));
    char a[128], b[128];
    if (info.shape.ndim < 1 || (!rows && info.shape.d[0] < n))
        return cascade_fail(CASCADE_EDATA, "%s: data set %s has shape %s; %lld samples are needed",
                            cascade_h5_filename(f), name, cascade_shape_str(&info.shape, a, sizeof a), (long long)n);
    cascade_shape sh = info.shape;
    sh.d[0] = n;
    if (want && !cascade_shape_equal(want, &sh)) {
        return cascade_fail(CASCADE_EDATA, "%s: data set %s has per-sample shape %s where the real samples have %s",
                            cascade_h5_filename(f), name, cascade_shape_str(&sh, a, sizeof a),
                            cascade_shape_str(want, b, sizeof b));
    }
    int64_t numel = cascade_shape_numel(&sh);
    float *v = cascade_alloc((size_t)(numel + 1) * sizeof(float), name);
    if (!v) return CASCADE_EINTERNAL;
    cascade_status st = rows ? cascade_h5_read_rows_at(f, name, rows, n, v) : cascade_h5_read_rows(f, name, 0, n, v);
    if (!st) st = cascade_h5_check_finite(cascade_h5_filename(f), name, v, n, numel / (n ? n : 1), 0, rows);
    if (st) {
        cascade_free(v);
        return st;
    }
    int k = s->n_sets++;
    snprintf(s->names[k], sizeof s->names[k], "%s", name);
    s->shape[k] = sh;
    s->v[k] = v;
    return CASCADE_OK;
}

/* The job's inputs then its conditions (conds: 0 none; 1 required; 2 when present). */
static cascade_status read_side(const cascade_job *job, const char *path, const int64_t *rows, int64_t n, int conds,
                                const sample_side *like, MPI_Comm comm, sample_side *s) {
    memset(s, 0, sizeof *s);
    s->file = path;
    s->n = n;
    cascade_h5file *f;
    CASCADE_TRY(cascade_h5_open(path, comm, &f));
    cascade_status st = CASCADE_OK;
    for (int i = 0; !st && i < job->n_inputs; i++) st = read_set(f, job->inputs[i], rows, n, like ? &like->shape[i] : NULL, s);
    for (int i = 0; !st && conds && i < job->n_conditions; i++)
        if (conds == 1 || cascade_h5_kind_of(f, job->conditions[i]) == CASCADE_H5_DATASET)
            st = read_set(f, job->conditions[i], rows, n, NULL, s);
    /* the incident energy of calorimeter showers: a condition, or a data set of the file */
    if (!st && side_find(s, "energy") < 0 && cascade_h5_kind_of(f, "energy") == CASCADE_H5_DATASET) {
        st = read_set(f, "energy", rows, n, NULL, s);
        if (!st) { /* not one of the compared sets: keep it aside */
            s->n_sets--;
            s->energy = s->v[s->n_sets];
            if (cascade_shape_numel(&s->shape[s->n_sets]) != n) {
                cascade_h5_close(f);
                return cascade_fail(CASCADE_EDATA, "%s: data set energy must hold one value per sample", path);
            }
        }
    } else if (!st) {
        int e = side_find(s, "energy");
        if (e >= 0 && cascade_shape_numel(&s->shape[e]) == n) {
            s->energy = cascade_alloc((size_t)n * sizeof(float), "energy");
            if (!s->energy) st = CASCADE_EINTERNAL;
            else memcpy(s->energy, s->v[e], (size_t)n * sizeof(float));
        }
    }
    cascade_h5_close(f);
    return st;
}

/* WORK/real.h5: the real samples' inputs and conditions, with the source's kind attributes. */
static cascade_status write_real(const char *path, const sample_side *r, const char *kind, double spacing,
                                 double trigger, MPI_Comm comm) {
    int rank = cascade_par_rank(comm);
    cascade_h5writer *w;
    CASCADE_TRY(cascade_h5w_create(path, comm, &w));
    cascade_status st = CASCADE_OK;
    for (int i = 0; !st && i < r->n_sets; i++) {
        st = cascade_h5w_create_rows(w, r->names[i], &r->shape[i]);
        if (!st) st = cascade_h5w_write_rows(w, r->names[i], 0, rank == 0 ? r->n : 0, r->v[i]);
    }
    if (!st && r->energy && side_find(r, "energy") < 0) {
        int64_t d[2] = {r->n, 1};
        cascade_shape sh = cascade_shape_make(2, d);
        st = cascade_h5w_create_rows(w, "energy", &sh);
        if (!st) st = cascade_h5w_write_rows(w, "energy", 0, rank == 0 ? r->n : 0, r->energy);
    }
    if (!st && kind[0]) st = cascade_h5w_attr_string(w, "/", "kind", kind);
    if (!st && strcmp(kind, "airshower") == 0) st = cascade_h5w_attr_double(w, "/", "spacing_m", spacing);
    if (!st && strcmp(kind, "airshower") == 0) st = cascade_h5w_attr_double(w, "/", "trigger_vem", trigger);
    if (!st) st = cascade_h5w_attr_string(w, "/", "generator", "cascade evaluate (held-out real samples)");
    if (!st) st = cascade_h5w_attr_string(w, "/", "source", r->file);
    if (!st) return cascade_h5w_commit(w);
    cascade_h5w_abort(w);
    return st;
}

/* What the data is: "calorimeter", "airshower" or "" (root attribute kind, else the CaloGAN
 * data-set names), with the air-shower grid spacing and trigger threshold. */
static cascade_status data_kind(const cascade_job *job, const char *path, MPI_Comm comm, char *kind, size_t cap,
                                double *spacing, double *trigger) {
    kind[0] = 0;
    *spacing = 1500, *trigger = 3;
    cascade_h5file *f;
    CASCADE_TRY(cascade_h5_open(path, comm, &f));
    char *k = NULL;
    if (cascade_h5_attr_exists(f, "/", "kind") && cascade_h5_attr_string(f, "/", "kind", &k) == CASCADE_OK) {
        snprintf(kind, cap, "%s", k);
        cascade_free(k);
    }
    if (cascade_h5_attr_exists(f, "/", "spacing_m")) cascade_h5_attr_double(f, "/", "spacing_m", spacing);
    if (cascade_h5_attr_exists(f, "/", "trigger_vem")) cascade_h5_attr_double(f, "/", "trigger_vem", trigger);
    cascade_h5_close(f);
    cascade_clear_error();
    if (!kind[0])
        for (int i = 0; i < job->n_inputs; i++)
            if (!strcmp(job->inputs[i], "layer_0") || !strcmp(job->inputs[i], "layer_1") ||
                !strcmp(job->inputs[i], "layer_2"))
                snprintf(kind, cap, "calorimeter");
    if (strcmp(kind, "calorimeter") && strcmp(kind, "airshower")) kind[0] = 0; /* only generic observables */
    return CASCADE_OK;
}

/* Every observable of one side. */
static cascade_status side_observables(const cascade_job *job, const sample_side *s, const char *kind,
                                       double spacing, double thr, const float *energy, cascade_obs_set *o) {
    cascade_obs_init(o, s->n);
    for (int i = 0; i < job->n_inputs; i++)
        CASCADE_TRY(cascade_obs_generic(o, s->names[i], s->v[i], cascade_shape_numel(&s->shape[i]) / s->n, thr));
    if (!strcmp(kind, "calorimeter")) {
        const float *layers[3] = {0};
        int rows[3] = {3, 12, 12}, cols[3] = {96, 12, 6};
        for (int l = 0; l < 3; l++) {
            char name[16];
            snprintf(name, sizeof name, "layer_%d", l);
            int i = side_find(s, name);
            if (i < 0 || i >= job->n_inputs) continue;
            const cascade_shape *sh = &s->shape[i];
            if (sh->ndim != 3 && !(sh->ndim == 2 && l == 0))
                return cascade_fail(CASCADE_EDATA, "%s: data set %s must be (N, rows, columns) for the calorimeter "
                                    "observables", s->file, name);
            rows[l] = sh->ndim == 3 ? (int)sh->d[1] : 1;
            cols[l] = (int)sh->d[sh->ndim - 1];
            layers[l] = s->v[i];
        }
        if (layers[0] || layers[1] || layers[2])
            CASCADE_TRY(cascade_obs_calorimeter(o, layers, rows, cols, energy, thr));
    } else if (!strcmp(kind, "airshower")) {
        int i = side_find(s, "signal");
        if (i >= 0 && i < job->n_inputs && cascade_shape_numel(&s->shape[i]) == s->n * 81)
            CASCADE_TRY(cascade_obs_airshower(o, s->v[i], spacing, thr));
    }
    return CASCADE_OK;
}

/* Separation power of real rows [a) vs [b) (the halves of the real sample). */
static double halves_sep(const cascade_obs *o, int64_t n, const cascade_binning *b, double *h1, double *h2) {
    int64_t m = n / 2;
    cascade_hist_fill(b, o->v, m, h1);
    cascade_hist_fill(b, o->v + m, n - m, h2);
    return cascade_separation_power(h1, h2, b->nbins + 2);
}

/* All values positive and spanning more than two decades: binned in log10. */
static int wide_positive(const double *v, int64_t n) {
    double lo = INFINITY, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(v[i] > 0)) return 0;
        lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
    }
    return n > 0 && hi > 100 * lo;
}

typedef struct {
    double sep, floor, real_mean, gen_mean;
    cascade_binning bin;
    double *hr, *hg;
} obs_result;

static void json_num(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

static double mean_of(const double *v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return n ? s / (double)n : NAN;
}

/* Per-sample classifier features: low level = every cell and condition as sign(v) log10(1 + |v|);
 * high level = every observable (log-scaled ones likewise). */
static float slog(double v) { return (float)(v >= 0 ? log10(1 + v) : -log10(1 - v)); }

/* The job's inputs of side s, then its conditions (from s, else from the real side `cond`:
 * the generated samples were drawn with the real samples' conditions). */
static cascade_status low_level(const cascade_job *job, const sample_side *s, const sample_side *cond, float **out,
                                int64_t *F) {
    const float *src[2 * CASCADE_MAX_NAMES];
    int64_t per[2 * CASCADE_MAX_NAMES], f = 0;
    int m = 0;
    for (int i = 0; i < job->n_inputs + job->n_conditions; i++) {
        const char *name = i < job->n_inputs ? job->inputs[i] : job->conditions[i - job->n_inputs];
        const sample_side *from = s;
        int k = side_find(s, name);
        if (k < 0 && i >= job->n_inputs) from = cond, k = side_find(cond, name);
        if (k < 0)
            return cascade_fail(CASCADE_EDATA, "%s: no data set %s for the classifier test", s->file, name);
        src[m] = from->v[k];
        per[m] = cascade_shape_numel(&from->shape[k]) / from->n;
        f += per[m++];
    }
    float *x = cascade_alloc((size_t)(s->n * f + 1) * sizeof(float), "classifier features");
    if (!x) return CASCADE_EINTERNAL;
    for (int64_t r = 0; r < s->n; r++) {
        int64_t k = 0;
        for (int i = 0; i < m; i++)
            for (int64_t e = 0; e < per[i]; e++) x[r * f + k++] = slog(src[i][r * per[i] + e]);
    }
    *out = x, *F = f;
    return CASCADE_OK;
}

static cascade_status high_level(const cascade_obs_set *o, float **out, int64_t *F) {
    float *x = cascade_alloc((size_t)(o->n * o->count + 1) * sizeof(float), "classifier features");
    if (!x) return CASCADE_EINTERNAL;
    for (int64_t r = 0; r < o->n; r++)
        for (int j = 0; j < o->count; j++) {
            double v = o->o[j].v[r];
            if (!isfinite(v)) v = 0;
            x[r * o->count + j] = o->o[j].scale == OBS_LOG ? slog(v) : (float)v;
        }
    *out = x, *F = o->count;
    return CASCADE_OK;
}

/* WORK/observables.h5 for the plots: per observable its values, histograms and edges. */
static cascade_status write_observables(const char *path, const cascade_obs_set *re, const cascade_obs_set *ge,
                                        const obs_result *res, const double *lat_r, const double *lat_g, int lat,
                                        MPI_Comm comm) {
    int rank = cascade_par_rank(comm);
    cascade_h5writer *w;
    CASCADE_TRY(cascade_h5w_create(path, comm, &w));
    cascade_status st = CASCADE_OK;
    int64_t nmax = re->n > ge->n ? re->n : ge->n;
    float *buf = cascade_alloc((size_t)(nmax + 2 * (CASCADE_OBS_MAX + 64)) * sizeof(float), "observable values");
    if (!buf) st = CASCADE_EINTERNAL;
    for (int j = 0; !st && j < re->count; j++) {
        const cascade_obs_set *sides[2] = {re, ge};
        const char *grp[2] = {"real", "generated"};
        char p[160];
        for (int k = 0; !st && k < 2; k++) {
            int64_t n = sides[k]->n;
            for (int64_t i = 0; i < n; i++) buf[i] = (float)sides[k]->o[j].v[i];
            cascade_shape sh = cascade_shape_make(1, &n);
            snprintf(p, sizeof p, "/%s/%s", grp[k], re->o[j].name);
            st = cascade_h5w_write_floats(w, p, &sh, buf, 0, rank == 0 ? n : 0);
        }
        const obs_result *r = &res[j];
        int64_t nb = r->bin.nbins + 2, ne = r->bin.nbins + 1;
        cascade_shape sb = cascade_shape_make(1, &nb), se = cascade_shape_make(1, &ne);
        for (int k = 0; !st && k < 2; k++) {
            for (int64_t i = 0; i < nb; i++) buf[i] = (float)(k ? r->hg[i] : r->hr[i]);
            snprintf(p, sizeof p, "/hist/%s/%s", re->o[j].name, k ? "generated" : "real");
            st = cascade_h5w_write_floats(w, p, &sb, buf, 0, rank == 0 ? nb : 0);
        }
        for (int64_t i = 0; i < ne; i++) buf[i] = (float)cascade_bin_edge(&r->bin, (int)i + 1);
        snprintf(p, sizeof p, "/hist/%s/edges", re->o[j].name);
        if (!st) st = cascade_h5w_write_floats(w, p, &se, buf, 0, rank == 0 ? ne : 0);
        snprintf(p, sizeof p, "/hist/%s", re->o[j].name);
        if (!st) st = cascade_h5w_attr_double(w, p, "separation_power", r->sep);
        if (!st) st = cascade_h5w_attr_double(w, p, "real_halves", r->floor);
        if (!st) st = cascade_h5w_attr_int(w, p, "log", r->bin.scale == OBS_LOG);
        if (!st) st = cascade_h5w_attr_int(w, p, "highlevel", re->o[j].highlevel);
        if (!st) st = cascade_h5w_attr_string(w, p, "unit", re->o[j].unit);
    }
    if (!st && lat) {
        int64_t nb = LAT_BINS;
        cascade_shape sh = cascade_shape_make(1, &nb);
        const double *src[3] = {NULL, lat_r, lat_g};
        const char *nm[3] = {"/lateral/r_m", "/lateral/real", "/lateral/generated"};
        for (int k = 0; !st && k < 3; k++) {
            for (int i = 0; i < LAT_BINS; i++) buf[i] = (float)(k ? src[k][i] : (i + 0.5) * LAT_WIDTH_M);
            st = cascade_h5w_write_floats(w, nm[k], &sh, buf, 0, rank == 0 ? nb : 0);
        }
    }
    cascade_free(buf);
    if (!st) return cascade_h5w_commit(w);
    cascade_h5w_abort(w);
    return st;
}

cascade_status cascade_gan_evaluate(const cascade_gan_eval_opts *o, MPI_Comm comm) {
    int rank = cascade_par_rank(comm);
    cascade_h5file *f = NULL;
    cascade_ckpt_meta meta = {0};
    cascade_job job;
    memset(&job, 0, sizeof job);
    sample_side real, gen;
    memset(&real, 0, sizeof real), memset(&gen, 0, sizeof gen);
    cascade_obs_set ore, oge;
    cascade_obs_init(&ore, 0), cascade_obs_init(&oge, 0);
    obs_result *res = NULL;
    int64_t *rows = NULL, n = 0;
    char work[CASCADE_PATH_MAX] = "", path[CASCADE_PATH_MAX + 64], kind[32];
    int temp = !o->workdir;
    double spacing, trigger;
    cascade_classifier_result cls[2];
    int cls_done = 0;
    float *fr = NULL, *fg = NULL;
    cascade_status st = cascade_ckpt_open(o->ckpt, comm, &f);
    if (!st) st = cascade_ckpt_read_meta(f, &meta);
    if (!st) st = cascade_job_parse(meta.job, o->ckpt, NULL, 0, &job);
    cascade_h5_close(f);
    if (st) goto done;
    /* the held-out real samples */
    const char *data = o->data;
    if (!data && job.valid[0]) data = job.valid;
    if (data) {
        st = cascade_data_count(&job, data, 0, comm, &n);
        if (!st) st = read_side(&job, data, NULL, n, 1, NULL, comm, &real);
    } else if (job.valid_fraction > 0) {
        int64_t n_train;
        data = job.train;
        st = cascade_data_split(&job, comm, &rows, &n_train, &n);
        if (!st) st = read_side(&job, data, rows + n_train, n, 1, NULL, comm, &real);
    } else {
        st = cascade_fail(CASCADE_EUSAGE, "%s: the run held out no samples (no valid or valid_fraction in [data]); "
                          "give --data FILE.h5 with real samples to compare with", o->ckpt);
    }
    if (st) goto done;
    if (n < 2) {
        st = cascade_fail(CASCADE_EDATA, "%s: %lld held-out samples; at least 2 are needed", data, (long long)n);
        goto done;
    }
    if ((st = data_kind(&job, data, comm, kind, sizeof kind, &spacing, &trigger))) goto done;
    double thr = o->threshold_given ? o->threshold : !strcmp(kind, "airshower") ? trigger : 0;
    /* the work directory */
    if (temp) {
        if (rank == 0) {
            const char *tmp = getenv("TMPDIR");
            snprintf(work, sizeof work, "%s/cascade-evaluate.XXXXXX", tmp && *tmp ? tmp : "/tmp");
            if (!mkdtemp(work)) work[0] = 0;
        }
        if ((st = cascade_par_bcast(comm, work, sizeof work))) goto done;
        if (!work[0]) {
            st = cascade_fail(CASCADE_EIO, "cannot create a temporary directory in $TMPDIR or /tmp: %s", strerror(errno));
            goto done;
        }
    } else {
        snprintf(work, sizeof work, "%s", o->workdir);
        if ((st = cascade_mkdir_p(work))) goto done;
    }
    snprintf(path, sizeof path, "%s/real.h5", work);
    if ((st = write_real(path, &real, kind, spacing, trigger, comm))) goto done;
    /* the generated samples */
    const char *gpath = o->samples;
    char gbuf[CASCADE_PATH_MAX + 64];
    if (!gpath) {
        snprintf(gbuf, sizeof gbuf, "%s/generated.h5", work);
        st = cascade_generate(o->ckpt, n, o->seed, o->seed_given, job.n_conditions ? path : NULL, gbuf, comm);
        if (st) goto done;
        gpath = gbuf;
    }
    if ((st = read_side(&job, gpath, NULL, n, 2, &real, comm, &gen))) goto done;
    if (o->apply_threshold) /* cells at or below the threshold read as 0, on both sides */
        for (int i = 0; i < job.n_inputs; i++) {
            int64_t m = cascade_shape_numel(&real.shape[i]);
            for (int64_t e = 0; e < m; e++) {
                if (!(fabsf(real.v[i][e]) > thr)) real.v[i][e] = 0;
                if (!(fabsf(gen.v[i][e]) > thr)) gen.v[i][e] = 0;
            }
        }
    /* the incident energy of generated showers: theirs, else the conditions' (the same rows) */
    const float *e_real = real.energy, *e_gen = gen.energy ? gen.energy : job.n_conditions ? real.energy : NULL;
    if (!e_gen) e_real = NULL; /* compare the same observables on both sides */
    if ((st = side_observables(&job, &real, kind, spacing, thr, e_real, &ore))) goto done;
    if ((st = side_observables(&job, &gen, kind, spacing, thr, e_gen, &oge))) goto done;
    res = calloc((size_t)ore.count + 1, sizeof *res);
    if (!res) {
        st = cascade_fail(CASCADE_EINTERNAL, "out of memory");
        goto done;
    }
    int nb = o->nbins > 0 ? o->nbins : 50;
    for (int j = 0; j < ore.count; j++) {
        obs_result *r = &res[j];
        if (!ore.o[j].highlevel && ore.o[j].scale == OBS_LINEAR && wide_positive(ore.o[j].v, n)) /* generic sums spanning decades */
            ore.o[j].scale = oge.o[j].scale = OBS_LOG;
        r->bin = cascade_binning_from(ore.o[j].v, n, nb, ore.o[j].scale);
        r->hr = malloc((size_t)(r->bin.nbins + 2) * sizeof(double));
        r->hg = malloc((size_t)(r->bin.nbins + 2) * sizeof(double));
        double *t1 = malloc((size_t)(r->bin.nbins + 2) * sizeof(double)), *t2 = malloc((size_t)(r->bin.nbins + 2) * sizeof(double));
        if (!r->hr || !r->hg || !t1 || !t2) {
            free(t1), free(t2);
            st = cascade_fail(CASCADE_EINTERNAL, "out of memory for histograms");
            goto done;
        }
        cascade_hist_fill(&r->bin, ore.o[j].v, n, r->hr);
        cascade_hist_fill(&r->bin, oge.o[j].v, n, r->hg);
        r->sep = cascade_separation_power(r->hr, r->hg, r->bin.nbins + 2);
        r->floor = halves_sep(&ore.o[j], n, &r->bin, t1, t2);
        r->real_mean = mean_of(ore.o[j].v, n), r->gen_mean = mean_of(oge.o[j].v, n);
        free(t1), free(t2);
    }
    /* air showers: the lateral profile */
    double lat_r[LAT_BINS], lat_g[LAT_BINS];
    int64_t lc[LAT_BINS];
    int si = side_find(&real, "signal"), lat = !strcmp(kind, "airshower") && si >= 0 && si < job.n_inputs &&
                                              cascade_shape_numel(&real.shape[si]) == n * 81;
    if (lat) {
        cascade_lateral_profile(real.v[si], n, spacing, thr, LAT_WIDTH_M, LAT_BINS, lat_r, lc);
        cascade_lateral_profile(gen.v[si], n, spacing, thr, LAT_WIDTH_M, LAT_BINS, lat_g, lc);
    }
    if (o->workdir) {
        snprintf(path, sizeof path, "%s/observables.h5", work);
        if ((st = write_observables(path, &ore, &oge, res, lat_r, lat_g, lat, comm))) goto done;
    }
    /* the classifier test: low level (cells), high level (observables) */
    if (o->classifier) {
        int64_t F;
        uint64_t cseed = (uint64_t)job.seed;
        for (int k = 0; k < 2 && !st; k++) {
            snprintf(path, sizeof path, "%s/classifier/%s", work, k ? "highlevel" : "cells");
            st = k ? high_level(&ore, &fr, &F) : low_level(&job, &real, &real, &fr, &F);
            if (!st) st = k ? high_level(&oge, &fg, &F) : low_level(&job, &gen, &real, &fg, &F);
            if (!st) st = cascade_classifier_test(path, fr, fg, n, F, o->classifier_epochs, cseed, comm, &cls[k]);
            cascade_free(fr), cascade_free(fg);
            fr = fg = NULL;
        }
        if (st) goto done;
        cls_done = 1;
    }
    /* metrics JSON */
    if (rank == 0) {
        FILE *out = o->out_json ? fopen(o->out_json, "w") : stdout;
        if (!out) {
            st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", o->out_json, strerror(errno));
            goto done;
        }
        double *all = malloc((size_t)(ore.count + 1) * sizeof(double)), *hl = malloc((size_t)(ore.count + 1) * sizeof(double));
        double *fa = malloc((size_t)(ore.count + 1) * sizeof(double)), *fh = malloc((size_t)(ore.count + 1) * sizeof(double));
        int na = 0, nh = 0;
        for (int j = 0; all && hl && fa && fh && j < ore.count; j++) {
            fa[na] = res[j].floor, all[na++] = res[j].sep;
            if (ore.o[j].highlevel) fh[nh] = res[j].floor, hl[nh++] = res[j].sep;
        }
        /* paths and the file's kind attribute are the user's text: escaped */
        fputs("{\"checkpoint\":", out);
        cascade_json_fputs(out, o->ckpt);
        fprintf(out, ",\"step\":%lld,\"kind\":\"%s\",\"data\":", (long long)meta.step,
                job.kind == JOB_GAN ? "gan" : job.kind == JOB_WGAN ? "wgan" : "wgan-gp");
        cascade_json_fputs(out, data);
        fputs(",\"data_kind\":", out);
        cascade_json_fputs(out, kind);
        fprintf(out, ",\"samples\":%lld,\"generated\":", (long long)n);
        cascade_json_fputs(out, o->samples ? o->samples : "cascade generate");
        fprintf(out, ",\"threshold_applied\":%s,\"cell_threshold\":", o->apply_threshold ? "true" : "false");
        json_num(out, thr);
        fprintf(out, ",\"bins\":%d,\"median_separation_power\":", nb);
        json_num(out, all ? cascade_median(all, na) : NAN);
        fputs(",\"median_separation_power_highlevel\":", out);
        json_num(out, hl && nh ? cascade_median(hl, nh) : NAN);
        fputs(",\"median_separation_power_real_halves\":", out);
        json_num(out, fa ? cascade_median(fa, na) : NAN);
        fputs(",\"median_separation_power_highlevel_real_halves\":", out);
        json_num(out, fh && nh ? cascade_median(fh, nh) : NAN);
        fputs(",\"observables\":{", out);
        for (int j = 0; j < ore.count; j++) {
            fprintf(out, "%s\"%s\":{\"separation_power\":", j ? "," : "", ore.o[j].name);
            json_num(out, res[j].sep);
            fputs(",\"real_halves\":", out);
            json_num(out, res[j].floor);
            fputs(",\"real_mean\":", out);
            json_num(out, res[j].real_mean);
            fputs(",\"generated_mean\":", out);
            json_num(out, res[j].gen_mean);
            fprintf(out, ",\"unit\":\"%s\",\"highlevel\":%s,\"bins\":%d,\"scale\":\"%s\"}", ore.o[j].unit,
                    ore.o[j].highlevel ? "true" : "false", res[j].bin.nbins,
                    res[j].bin.scale == OBS_LOG ? "log" : res[j].bin.scale == OBS_INTEGER ? "integer" : "linear");
        }
        fputc('}', out);
        if (lat) {
            fprintf(out, ",\"lateral_profile\":{\"bin_width_m\":%g,\"r_m\":[", LAT_WIDTH_M);
            for (int i = 0; i < LAT_BINS; i++) fprintf(out, "%s%g", i ? "," : "", (i + 0.5) * LAT_WIDTH_M);
            const double *pr[2] = {lat_r, lat_g};
            const char *nm[2] = {"real", "generated"};
            for (int k = 0; k < 2; k++) {
                fprintf(out, "],\"%s\":[", nm[k]);
                for (int i = 0; i < LAT_BINS; i++) fputs(i ? "," : "", out), json_num(out, pr[k][i]);
            }
            fputs("],\"ratio\":[", out);
            for (int i = 0; i < LAT_BINS; i++) fputs(i ? "," : "", out), json_num(out, lat_g[i] / lat_r[i]);
            fputs("]}", out);
        }
        if (cls_done) {
            const char *nm[2] = {"classifier_cells", "classifier_highlevel"};
            for (int k = 0; k < 2; k++) {
                fprintf(out, ",\"%s\":{\"auc\":", nm[k]);
                json_num(out, cls[k].auc);
                fputs(",\"accuracy\":", out);
                json_num(out, cls[k].accuracy);
                fputs(",\"test_loss\":", out);
                json_num(out, cls[k].test_loss);
                fprintf(out, ",\"features\":%lld,\"train\":%lld,\"valid\":%lld,\"test\":%lld,\"epochs\":%d,"
                        "\"patience\":%d,\"best_step\":%lld,\"seconds\":%.1f}", (long long)cls[k].features,
                        (long long)cls[k].n_train, (long long)cls[k].n_valid, (long long)cls[k].n_test,
                        o->classifier_epochs, CASCADE_CLASSIFIER_PATIENCE, (long long)cls[k].best_step, cls[k].seconds);
            }
        }
        fputs("}\n", out);
        free(all), free(hl), free(fa), free(fh);
        if (o->out_json && fclose(out) != 0) st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", o->out_json, strerror(errno));
    }
done:
    if (res)
        for (int j = 0; j < ore.count; j++) free(res[j].hr), free(res[j].hg);
    free(res);
    free(rows);
    cascade_free(fr), cascade_free(fg);
    cascade_obs_free(&ore), cascade_obs_free(&oge);
    side_free(&real), side_free(&gen);
    cascade_ckpt_meta_free(&meta);
    if (job.sections) cascade_job_free(&job);
    cascade_par_barrier(comm); /* (an MPI error here leaves st as it was) */
    if (temp && work[0] && rank == 0) {
        cascade_status keep = st;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cascade_errmsg());
        cascade_rm_tree(work);
        if (keep) cascade_fail(keep, "%s", msg);
    }
    return st;
}
