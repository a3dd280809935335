/* Validation of a job's sections into the typed fields of cascade_job (CONTRACT.md "Job
 * files"): [job], [data], [train], [optimizer] / [optimizer.NET], [gan] / [refiner]; every
 * other section must be a layer [NET.LAYER] of a net in `nets`. Layer keys are left to the
 * graph builder (each op reads its own and rejects the rest); here a layer needs a `type`. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job_internal.h"

/* Orders as the enums of job.h and optim.h. */
static const char *const KIND_NAMES[] = {"supervised", "autoencoder", "gan", "wgan", "wgan-gp",
                                         "refiner", NULL};
static const char *const LOSS_NAMES[] = {"mse", "mae", "huber", "bce", "ce", "angular", NULL};
static const char *const LAYOUT_NAMES[] = {"channels", "features", NULL};
static const char *const NORM_NAMES[] = {"none", "standard", NULL};
static const char *const OPT_NAMES[] = {"sgd", "adam", "adamw", "rmsprop", "lars", "lamb", NULL};
static const char *const LR_SCALING_NAMES[] = {"none", "linear", "sqrt", NULL};
static const char *const SCHED_NAMES[] = {"constant", "step", "cosine", "poly", NULL};
static const char *const FIXED_SECTIONS[] = {"job", "data", "train", "optimizer", "gan", "refiner",
                                             NULL};

static int is_adversarial(cascade_job_kind k) { return k >= JOB_GAN; }
static int is_gan(cascade_job_kind k) { return k == JOB_GAN || k == JOB_WGAN || k == JOB_WGAN_GP; }

int cascade_job_name_ok(const char *s, const char *extra) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && !strchr(extra, *s)) return 0;
    return 1;
}

static int in_list(const char *const *list, const char *s) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0) return 1;
    return 0;
}

int cascade_job_is_fixed_section(const char *name) {
    return in_list(FIXED_SECTIONS, name) || (strncmp(name, "optimizer.", 10) == 0 && name[10]);
}

/* ---- value helpers on top of the getters of config.h ---- */

/* An empty stand-in for an absent optional section: the getters then give the defaults. */
static cascade_section stand_in(const cascade_job *job, const char *name) {
    cascade_section s = {.name = (char *)name, .file = job->origin};
    return s;
}

/* Levenshtein distance of two short keys (longer ones: far). */
static int key_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b), row[64];
    if (la > 62 || lb > 62) return 99;
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* A required key is missing: a key of the section not read so far that is a near spelling of
 * it (`epoch` for `epochs`) is named as the unknown key it is, at its line. Keys that are
 * themselves required somewhere (`target` of a refiner, `targets`) are never taken for one. */
static const char *const REQUIRED_KEYS[] = {"train", "target", "inputs", "targets", "epochs", "steps", NULL};

static cascade_status missing_key(const cascade_section *s, const char *key, const char *what) {
    for (int i = 0; i < s->nkv; i++) {
        const cascade_kv *kv = &s->kv[i];
        if (kv->used || in_list(REQUIRED_KEYS, kv->key) || key_distance(kv->key, key) > 2) continue;
        char loc[512];
        if (kv->line > 0) snprintf(loc, sizeof loc, "%s:%d", s->file ? s->file : "<job>", kv->line);
        else snprintf(loc, sizeof loc, "--set %s.%s", s->name, kv->key);
        return cascade_fail(CASCADE_EUSAGE, "%s: unknown key '%s' in [%s] (did you mean '%s'? [%s] needs %s = %s)", loc,
                            kv->key, s->name, key, s->name, key, what);
    }
    if (s->line > 0)
        return cascade_fail(CASCADE_EUSAGE, "%s:%d: [%s] needs %s = %s", s->file, s->line, s->name,
                            key, what);
    return cascade_fail(CASCADE_EUSAGE, "%s: the job needs [%s] %s = %s", s->file, s->name, key, what);
}

/* A key that must not be there (other kind, type or schedule): error at its line. */
static cascade_status forbid(cascade_section *s, const char *key, const char *why) {
    const cascade_kv *kv = cascade_section_peek(s, key);
    return kv ? cascade_cfg_error(s, kv, "%s", why) : CASCADE_OK;
}

/* "line 12", or "--set" for a value from the command line. */
static const char *kv_origin(const cascade_kv *kv, char *buf, size_t n) {
    if (!kv) return "default";
    if (kv->line <= 0) return "--set";
    snprintf(buf, n, "line %d", kv->line);
    return buf;
}

enum { POSITIVE, NONNEGATIVE, FRACTION /* (0, 1) */ };

static cascade_status cfg_real(cascade_section *s, const char *key, double dflt, int range,
                               double *out) {
    CASCADE_TRY(cascade_cfg_double(s, key, dflt, -HUGE_VAL, HUGE_VAL, out));
    const cascade_kv *kv = cascade_section_peek(s, key);
    if (!kv) return CASCADE_OK;
    if (range == POSITIVE && !(*out > 0)) return cascade_cfg_error(s, kv, "must be > 0");
    if (range == NONNEGATIVE && !(*out >= 0)) return cascade_cfg_error(s, kv, "must be >= 0");
    if (range == FRACTION && !(*out > 0 && *out < 1))
        return cascade_cfg_error(s, kv, "must be > 0 and < 1");
    return CASCADE_OK;
}

static cascade_status cfg_count(cascade_section *s, const char *key, long dflt, long min, long *out) {
    CASCADE_TRY(cascade_cfg_int(s, key, dflt, LONG_MIN, LONG_MAX, out));
    const cascade_kv *kv = cascade_section_peek(s, key);
    if (kv && *out < min) return cascade_cfg_error(s, kv, "must be >= %ld", min);
    return CASCADE_OK;
}

/* A file name, kept as written (relative paths are resolved by the caller). */
static cascade_status cfg_path(cascade_section *s, const char *key, char *out) {
    const cascade_kv *kv = cascade_section_find(s, key);
    out[0] = 0;
    if (!kv) return CASCADE_OK;
    if (!kv->value[0]) return cascade_cfg_error(s, kv, "empty file name");
    if (strlen(kv->value) >= CASCADE_PATH_MAX)
        return cascade_cfg_error(s, kv, "file name longer than %d characters", CASCADE_PATH_MAX - 1);
    strcpy(out, kv->value);
    return CASCADE_OK;
}

static cascade_status names_unique(cascade_section *s, const char *key, char (*names)[64], int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return cascade_cfg_error(s, cascade_section_peek(s, key), "'%s' is listed twice",
                                         names[i]);
    return CASCADE_OK;
}

static const char *nets_list(const cascade_job *job, char *buf, size_t n) {
    buf[0] = 0;
    for (int i = 0; i < job->n_nets; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? ", " : "", job->nets[i]);
    return buf;
}

/* ---- [job] ---- */

static cascade_status parse_job_section(cascade_job *job) {
    cascade_section *s = cascade_job_section(job, "job"); /* made by the reader if absent */
    const char *name;
    int kind;
    CASCADE_TRY(cascade_cfg_string(s, "name", "job", &name));
    if (!cascade_job_name_ok(name, ".") || name[0] == '.' || strlen(name) >= sizeof job->name)
        return cascade_cfg_error(s, cascade_section_peek(s, "name"),
                                 "a job name has 1 to %zu letters, digits, '.', '_' or '-' and does "
                                 "not start with '.' (it names the run directory runs/NAME)",
                                 sizeof job->name - 1);
    strcpy(job->name, name);
    CASCADE_TRY(cascade_cfg_enum(s, "kind", KIND_NAMES, JOB_SUPERVISED, &kind));
    job->kind = (cascade_job_kind)kind;
    CASCADE_TRY(cascade_cfg_int(s, "seed", 1, 0, LONG_MAX, &job->seed));
    const char *latent_layer;
    CASCADE_TRY(cascade_cfg_string(s, "latent_layer", "", &latent_layer));
    if (*latent_layer && job->kind != JOB_AUTOENCODER)
        return cascade_cfg_error(s, cascade_section_peek(s, "latent_layer"), "latent_layer is for kind = autoencoder");
    if (strlen(latent_layer) >= sizeof job->latent_layer)
        return cascade_cfg_error(s, cascade_section_peek(s, "latent_layer"), "name too long");
    strcpy(job->latent_layer, latent_layer);

    static const char *const default_nets[][2] = {{"model", NULL}, {"generator", "critic"},
                                                  {"refiner", "critic"}};
    int want = is_adversarial(job->kind) ? 2 : 1;
    CASCADE_TRY(cascade_cfg_namelist(s, "nets", CASCADE_MAX_NETS, job->nets, &job->n_nets));
    const cascade_kv *kv = cascade_section_peek(s, "nets");
    if (!kv) {
        int d = job->kind == JOB_REFINER ? 2 : is_gan(job->kind) ? 1 : 0;
        for (int i = 0; i < want; i++) strcpy(job->nets[i], default_nets[d][i]);
        job->n_nets = want;
    }
    if (job->n_nets != want)
        return cascade_cfg_error(s, kv, "kind = %s needs %s", KIND_NAMES[kind],
                                 want == 1 ? "one net"
                                 : job->kind == JOB_REFINER ? "two nets: refiner, critic"
                                                            : "two nets: generator, critic");
    for (int i = 0; i < job->n_nets; i++) {
        /* [optimizer.X] is X's optimizer, so no net can be called optimizer */
        if (!cascade_job_name_ok(job->nets[i], "") || strcmp(job->nets[i], "optimizer") == 0)
            return cascade_cfg_error(s, kv, "net name '%s': letters, digits, '_' and '-', and not "
                                     "'optimizer'", job->nets[i]);
    }
    CASCADE_TRY(names_unique(s, "nets", job->nets, job->n_nets));
    return cascade_cfg_check_unused(s);
}

/* ---- sections other than the fixed ones: [optimizer.NET] and layers [NET.LAYER] ---- */

static cascade_status classify_sections(cascade_job *job) {
    char nets[300];
    job->layers = calloc((size_t)job->n_sections, sizeof *job->layers);
    if (!job->layers) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
    job->n_layers = 0;
    for (int i = 0; i < job->n_sections; i++) {
        cascade_section *s = &job->sections[i];
        if (in_list(FIXED_SECTIONS, s->name)) continue;
        const char *dot = strchr(s->name, '.');
        char prefix[64] = "";
        if (dot && dot - s->name < 64) snprintf(prefix, sizeof prefix, "%.*s", (int)(dot - s->name), s->name);
        if (strcmp(prefix, "optimizer") == 0) {
            if (cascade_job_net_index(job, dot + 1) < 0)
                return cascade_cfg_error(s, NULL, "no net '%s' in this job ([job] nets = %s)", dot + 1,
                                         nets_list(job, nets, sizeof nets));
            continue;
        }
        if (*prefix && cascade_job_net_index(job, prefix) >= 0) {
            if (!cascade_job_name_ok(dot + 1, "") || strlen(dot + 1) > 63)
                return cascade_cfg_error(s, NULL, "a layer name has 1 to 63 letters, digits, '_' or '-'");
            if (!cascade_section_peek(s, "type"))
                return cascade_cfg_error(s, NULL, "missing key 'type' (the layer type: dense, "
                                         "conv2d, ...)");
            job->layers[job->n_layers++] = i;
            continue;
        }
        nets_list(job, nets, sizeof nets);
        if (cascade_job_name_ok(prefix, ""))
            return cascade_cfg_error(s, NULL, "'%s' is not a net of this job ([job] nets = %s)",
                                     prefix, nets);
        return cascade_cfg_error(s, NULL, "unknown section: expected [job], [data], [train], "
                                 "[optimizer], [optimizer.NET], [gan], [refiner] or [NET.LAYER] "
                                 "with NET one of: %s", nets);
    }
    for (int n = 0; n < job->n_nets; n++) {
        int count = 0;
        for (int i = 0; i < job->n_layers; i++) {
            char net[64], layer[64];
            cascade_job_split_layer(&job->sections[job->layers[i]], net, layer);
            count += strcmp(net, job->nets[n]) == 0;
        }
        if (!count) {
            cascade_section *js = cascade_job_section(job, "job");
            const cascade_kv *kv = cascade_section_peek(js, "nets");
            if (kv) return cascade_cfg_error(js, kv, "net '%s' has no layers [%s.NAME]", job->nets[n], job->nets[n]);
            return cascade_fail(CASCADE_EUSAGE, "%s: net '%s' has no layers [%s.NAME]", job->origin,
                                job->nets[n], job->nets[n]);
        }
    }
    return CASCADE_OK;
}

/* ---- [data] ---- */

static cascade_status parse_data(cascade_job *job) {
    cascade_section absent = stand_in(job, "data"), *s = cascade_job_section(job, "data");
    if (!s) s = &absent;
    const char *kind = KIND_NAMES[job->kind];
    char msg[160], where[32];

    if (!cascade_section_peek(s, "train")) return missing_key(s, "train", "FILE.h5 (the training data)");
    CASCADE_TRY(cfg_path(s, "train", job->train));
    const cascade_kv *valid = cascade_section_peek(s, "valid");
    const cascade_kv *fraction = cascade_section_peek(s, "valid_fraction");
    if (valid && fraction)
        return cascade_cfg_error(s, fraction, "give valid (%s) or valid_fraction, not both",
                                 kv_origin(valid, where, sizeof where));
    CASCADE_TRY(cfg_path(s, "valid", job->valid));
    CASCADE_TRY(cfg_real(s, "valid_fraction", 0, FRACTION, &job->valid_fraction));

    if (job->kind == JOB_REFINER) {
        if (!cascade_section_peek(s, "target"))
            return missing_key(s, "target", "FILE.h5 (unlabelled samples of the measured domain)");
        CASCADE_TRY(cfg_path(s, "target", job->target_file));
    } else {
        CASCADE_TRY(forbid(s, "target", "target is the measured-domain file of kind = refiner "
                                        "jobs (the data sets to learn are `targets`)"));
    }

    CASCADE_TRY(cascade_cfg_namelist(s, "inputs", CASCADE_MAX_NAMES, job->inputs, &job->n_inputs));
    if (!job->n_inputs)
        return missing_key(s, "inputs", "DATASET, ... (the HDF5 data sets forming the input x)");
    CASCADE_TRY(names_unique(s, "inputs", job->inputs, job->n_inputs));
    if (job->kind == JOB_SUPERVISED) {
        CASCADE_TRY(cascade_cfg_namelist(s, "targets", CASCADE_MAX_NAMES, job->targets, &job->n_targets));
        if (!job->n_targets)
            return missing_key(s, "targets", "DATASET, ... (what the model learns to predict)");
        CASCADE_TRY(names_unique(s, "targets", job->targets, job->n_targets));
    } else {
        snprintf(msg, sizeof msg, job->kind == JOB_AUTOENCODER
                     ? "an autoencoder's targets are its inputs: remove targets"
                     : "kind = %s has no targets: the critic judges the inputs", kind);
        CASCADE_TRY(forbid(s, "targets", msg));
    }
    CASCADE_TRY(cascade_cfg_namelist(s, "condition", CASCADE_MAX_NAMES, job->conditions,
                                     &job->n_conditions));
    CASCADE_TRY(names_unique(s, "condition", job->conditions, job->n_conditions));

    int layout, normalize;
    CASCADE_TRY(cascade_cfg_enum(s, "layout", LAYOUT_NAMES, LAYOUT_CHANNELS, &layout));
    CASCADE_TRY(cascade_cfg_enum(s, "normalize", NORM_NAMES, NORM_NONE, &normalize));
    job->layout = (cascade_layout)layout;
    job->normalize = (cascade_norm)normalize;
    CASCADE_TRY(cascade_cfg_bool(s, "shuffle", 1, &job->shuffle));
    job->memory_budget_mb = 4096;
    if (is_adversarial(job->kind)) {
        char why[160];
        snprintf(why, sizeof why, "kind = %s holds its samples in memory: streaming input (memory_budget_mb) is for "
                 "kind = supervised and autoencoder", KIND_NAMES[job->kind]);
        CASCADE_TRY(forbid(s, "memory_budget_mb", why));
    } else {
        CASCADE_TRY(cascade_cfg_double(s, "memory_budget_mb", 4096, 0, 1e9, &job->memory_budget_mb));
    }
    /* log_inputs: inputs spanning decades (signals in VEM) enter as log10(1 + x) */
    CASCADE_TRY(cascade_cfg_namelist(s, "log_inputs", CASCADE_MAX_NAMES, job->log_inputs, &job->n_log_inputs));
    for (int i = 0; i < job->n_log_inputs; i++) {
        int found = 0;
        for (int k = 0; k < job->n_inputs; k++) found |= strcmp(job->log_inputs[i], job->inputs[k]) == 0;
        if (!found)
            return cascade_cfg_error(s, cascade_section_peek(s, "log_inputs"), "'%s' is not one of the inputs",
                                     job->log_inputs[i]);
    }
    int tnorm;
    CASCADE_TRY(cascade_cfg_enum(s, "normalize_targets", NORM_NAMES, NORM_NONE, &tnorm));
    job->normalize_targets = (cascade_norm)tnorm;
    if (job->normalize_targets != NORM_NONE && job->kind != JOB_SUPERVISED)
        return cascade_cfg_error(s, cascade_section_peek(s, "normalize_targets"), "only supervised jobs have targets");
    return cascade_cfg_check_unused(s);
}

/* ---- [train] ---- */

static cascade_status parse_train(cascade_job *job) {
    cascade_section absent = stand_in(job, "train"), *s = cascade_job_section(job, "train");
    if (!s) s = &absent;
    char where[32], msg[256];

    CASCADE_TRY(cfg_count(s, "batch", 128, 1, &job->batch));
    CASCADE_TRY(cfg_count(s, "micro_batch", job->batch, 1, &job->micro_batch));
    if (job->batch % job->micro_batch)
        return cascade_cfg_error(s, cascade_section_peek(s, "micro_batch"),
                                 "batch = %ld (%s) is not a multiple of micro_batch = %ld", job->batch,
                                 kv_origin(cascade_section_peek(s, "batch"), where, sizeof where),
                                 job->micro_batch);

    const cascade_kv *epochs = cascade_section_peek(s, "epochs");
    const cascade_kv *steps = cascade_section_peek(s, "steps");
    if (epochs && steps)
        return cascade_cfg_error(s, steps, "give epochs (%s) or steps, not both",
                                 kv_origin(epochs, where, sizeof where));
    if (!epochs && !steps) return missing_key(s, "epochs", "N or steps = N (how long to train)");
    CASCADE_TRY(cfg_count(s, "epochs", 0, 1, &job->epochs));
    CASCADE_TRY(cfg_count(s, "steps", 0, 1, &job->steps));
    /* epochs x steps per epoch (at most rows / batch) and the step counters must fit int64 */
    if (job->epochs > 1000000000L) return cascade_cfg_error(s, epochs, "must be at most 10^9");
    if (job->steps > 1000000000000000L) return cascade_cfg_error(s, steps, "must be at most 10^15");

    int loss = LOSS_MSE;
    if (is_adversarial(job->kind)) {
        snprintf(msg, sizeof msg, "kind = %s sets its own losses", KIND_NAMES[job->kind]);
        CASCADE_TRY(forbid(s, "loss", msg));
    } else {
        CASCADE_TRY(cascade_cfg_enum(s, "loss", LOSS_NAMES, LOSS_MSE, &loss));
        if (job->kind == JOB_AUTOENCODER && (loss == LOSS_CE || loss == LOSS_ANGULAR))
            return cascade_cfg_error(s, cascade_section_peek(s, "loss"),
                                     "an autoencoder reconstructs its inputs: use mse, mae, huber or bce");
    }
    job->loss = (cascade_loss_kind)loss;
    if (is_adversarial(job->kind)) { /* keys of a supervised loss and its validation */
        snprintf(msg, sizeof msg, "kind = %s sets its own losses: class_weights weight loss = ce of supervised jobs",
                 KIND_NAMES[job->kind]);
        CASCADE_TRY(forbid(s, "class_weights", msg));
        snprintf(msg, sizeof msg, "early stopping watches the validation loss, and kind = %s has none (its nets "
                 "never see held-out data): give steps or epochs and compare checkpoints with cascade evaluate",
                 KIND_NAMES[job->kind]);
        CASCADE_TRY(forbid(s, "early_stopping", msg));
    }
    CASCADE_TRY(cascade_cfg_doublelist(s, "class_weights", 16, job->class_weights, &job->n_class_weights));
    if (job->n_class_weights && job->loss != LOSS_CE)
        return cascade_cfg_error(s, cascade_section_peek(s, "class_weights"), "class_weights go with loss = ce");
    for (int i = 0; i < job->n_class_weights; i++)
        if (job->class_weights[i] < 0)
            return cascade_cfg_error(s, cascade_section_peek(s, "class_weights"), "weights must be >= 0");
    CASCADE_TRY(cascade_cfg_bool(s, "deterministic", 0, &job->deterministic));
    CASCADE_TRY(cfg_count(s, "checkpoint_every", 500, 0, &job->checkpoint_every));
    CASCADE_TRY(cfg_count(s, "keep_checkpoints", 3, 0, &job->keep_checkpoints));
    CASCADE_TRY(cfg_count(s, "log_every", 10, 1, &job->log_every));
    CASCADE_TRY(cfg_count(s, "max_nonfinite", 5, 1, &job->max_nonfinite));
    CASCADE_TRY(cfg_count(s, "early_stopping", 0, 0, &job->early_stopping));
    CASCADE_TRY(cascade_cfg_double(s, "bucket_mb", 25, 0.001, 1e6, &job->bucket_mb));
    CASCADE_TRY(cascade_cfg_int(s, "zero", 0, 0, 1, &job->zero));
    return cascade_cfg_check_unused(s);
}

/* ---- [optimizer] and [optimizer.NET] ---- */

#define OPT_BIT(k) (1u << (k))
#define OPT_ALL 0x3fu
#define OPT_ADAMS (OPT_BIT(OPT_ADAM) | OPT_BIT(OPT_ADAMW) | OPT_BIT(OPT_LAMB)) /* betas */

typedef struct {
    const char *key;
    unsigned types;  /* OPT_BITs of the optimizer types it applies to */
    int schedule;    /* -1: any schedule; else the only one it applies to */
    char value;      /* 'P' double > 0, 'N' double >= 0, 'B' bool, 'S' count >= 1, 'Z' count >= 0 */
    size_t offset;   /* of the field in cascade_opt_cfg */
} opt_key;

static const opt_key OPT_KEYS[] = {
    {"lr", OPT_ALL, -1, 'P', offsetof(cascade_opt_cfg, lr)},
    {"momentum", OPT_BIT(OPT_SGD) | OPT_BIT(OPT_RMSPROP) | OPT_BIT(OPT_LARS), -1, 'N', offsetof(cascade_opt_cfg, momentum)},
    {"trust_coefficient", OPT_BIT(OPT_LARS), -1, 'P', offsetof(cascade_opt_cfg, trust_coefficient)},
    {"adapt_biases", OPT_BIT(OPT_LARS) | OPT_BIT(OPT_LAMB), -1, 'B', offsetof(cascade_opt_cfg, adapt_biases)},
    {"nesterov", OPT_BIT(OPT_SGD), -1, 'B', offsetof(cascade_opt_cfg, nesterov)},
    {"eps", OPT_ADAMS | OPT_BIT(OPT_RMSPROP), -1, 'P', offsetof(cascade_opt_cfg, eps)},
    {"weight_decay", OPT_ALL, -1, 'N', offsetof(cascade_opt_cfg, weight_decay)},
    {"alpha", OPT_BIT(OPT_RMSPROP), -1, 'N', offsetof(cascade_opt_cfg, alpha)},
    {"centered", OPT_BIT(OPT_RMSPROP), -1, 'B', offsetof(cascade_opt_cfg, centered)},
    {"step_size", OPT_ALL, SCHED_STEP, 'S', offsetof(cascade_opt_cfg, step_size)},
    {"gamma", OPT_ALL, SCHED_STEP, 'P', offsetof(cascade_opt_cfg, gamma)},
    {"min_lr", OPT_ALL, SCHED_COSINE, 'N', offsetof(cascade_opt_cfg, min_lr)},
    {"power", OPT_ALL, SCHED_POLY, 'P', offsetof(cascade_opt_cfg, power)},
    {"warmup", OPT_ALL, -1, 'Z', offsetof(cascade_opt_cfg, warmup)},
    {"reference_batch", OPT_ALL, -1, 'S', offsetof(cascade_opt_cfg, reference_batch)},
};

/* Where a key's value comes from: the net's own section, else [optimizer] (NULL: default).
 * A key that does not apply to the net's type/schedule is an error in the net's own section;
 * inherited from [optimizer] it was meant for [optimizer]'s own type and is skipped. */
static cascade_status opt_source(cascade_section *own, cascade_section *base, const char *key,
                                 int applies, const char *why, cascade_section **src) {
    *src = own && cascade_section_peek(own, key) ? own
         : base && cascade_section_peek(base, key) ? base : NULL;
    if (*src && !applies) {
        if (*src == own) return cascade_cfg_error(own, cascade_section_peek(own, key), "%s", why);
        *src = NULL;
    }
    return CASCADE_OK;
}

/* adversarial: kinds gan/wgan/wgan-gp/refiner default to Adam(lr 1e-4, betas (0.5, 0.9)) as
 * Gulrajani et al. 2017, instead of torch.optim's defaults. */
/* lr_scaling and reference_batch (parsed with the other keys) together: lr_scale for `batch`. */
static cascade_status parse_lr_scaling(cascade_section *own, cascade_section *base, long batch, cascade_opt_cfg *c) {
    cascade_section *src, *ref_src;
    int scaling = LR_SCALING_NONE;
    CASCADE_TRY(opt_source(own, base, "lr_scaling", 1, "", &src));
    if (src) CASCADE_TRY(cascade_cfg_enum(src, "lr_scaling", LR_SCALING_NAMES, LR_SCALING_NONE, &scaling));
    CASCADE_TRY(opt_source(own, base, "reference_batch", 1, "", &ref_src));
    if (scaling != LR_SCALING_NONE && !ref_src)
        return cascade_cfg_error(src, cascade_section_peek(src, "lr_scaling"),
                                 "needs reference_batch = N (the global batch lr was tuned for)");
    if (scaling == LR_SCALING_NONE && ref_src)
        return cascade_cfg_error(ref_src, cascade_section_peek(ref_src, "reference_batch"),
                                 "has no effect without lr_scaling = linear or sqrt");
    c->lr_scaling = (cascade_lr_scaling)scaling;
    c->lr_scale = cascade_lr_scale_for(c->lr_scaling, batch, c->reference_batch);
    return CASCADE_OK;
}

static cascade_status parse_optimizer(cascade_section *own, cascade_section *base, int adversarial,
                                      long batch, cascade_opt_cfg *c) {
    cascade_section *src;
    int type = OPT_ADAM, schedule = SCHED_CONSTANT;
    char why[96];
    CASCADE_TRY(opt_source(own, base, "type", 1, "", &src));
    if (src) CASCADE_TRY(cascade_cfg_enum(src, "type", OPT_NAMES, OPT_ADAM, &type));
    cascade_opt_defaults(c, (cascade_opt_kind)type); /* torch.optim's */
    if (adversarial && (type == OPT_ADAM || type == OPT_ADAMW)) {
        c->lr = 1e-4;
        c->beta1 = 0.5;
        c->beta2 = 0.9;
    }
    CASCADE_TRY(opt_source(own, base, "schedule", 1, "", &src));
    if (src) CASCADE_TRY(cascade_cfg_enum(src, "schedule", SCHED_NAMES, SCHED_CONSTANT, &schedule));
    c->schedule = (cascade_sched_kind)schedule;
    cascade_section *schedule_src = src;

    for (size_t i = 0; i < sizeof OPT_KEYS / sizeof *OPT_KEYS; i++) {
        const opt_key *k = &OPT_KEYS[i];
        int type_ok = (k->types & OPT_BIT(type)) != 0;
        if (type_ok) snprintf(why, sizeof why, "applies only to schedule = %s", SCHED_NAMES[k->schedule < 0 ? 0 : k->schedule]);
        else snprintf(why, sizeof why, "does not apply to type = %s", OPT_NAMES[type]);
        CASCADE_TRY(opt_source(own, base, k->key, type_ok && (k->schedule < 0 || k->schedule == schedule),
                               why, &src));
        if (!src) continue;
        void *field = (char *)c + k->offset;
        switch (k->value) {
        case 'P': CASCADE_TRY(cfg_real(src, k->key, *(double *)field, POSITIVE, field)); break;
        case 'N': CASCADE_TRY(cfg_real(src, k->key, *(double *)field, NONNEGATIVE, field)); break;
        case 'B': CASCADE_TRY(cascade_cfg_bool(src, k->key, *(int *)field, field)); break;
        case 'S': CASCADE_TRY(cfg_count(src, k->key, *(long *)field, 1, field)); break;
        default: CASCADE_TRY(cfg_count(src, k->key, *(long *)field, 0, field)); break;
        }
    }

    snprintf(why, sizeof why, "does not apply to type = %s", OPT_NAMES[type]);
    CASCADE_TRY(opt_source(own, base, "betas", (OPT_ADAMS & OPT_BIT(type)) != 0, why, &src));
    if (src) {
        double b[2];
        int n;
        CASCADE_TRY(cascade_cfg_doublelist(src, "betas", 2, b, &n));
        const cascade_kv *kv = cascade_section_peek(src, "betas");
        if (n != 2 || !(b[0] >= 0 && b[0] < 1 && b[1] >= 0 && b[1] < 1))
            return cascade_cfg_error(src, kv, "expected two values b1, b2, each >= 0 and < 1");
        c->beta1 = b[0];
        c->beta2 = b[1];
    }
    if (c->schedule == SCHED_STEP && c->step_size == 0)
        return cascade_cfg_error(schedule_src, cascade_section_peek(schedule_src, "schedule"),
                                 "needs step_size = N (updates between two lr *= gamma)");
    if (c->nesterov && c->momentum <= 0) {
        CASCADE_TRY(opt_source(own, base, "nesterov", 1, "", &src));
        return cascade_cfg_error(src, cascade_section_peek(src, "nesterov"),
                                 "needs momentum > 0 (as torch.optim.SGD)");
    }
    return parse_lr_scaling(own, base, batch, c);
}

static cascade_status parse_optimizers(cascade_job *job) {
    cascade_section *base = cascade_job_section(job, "optimizer");
    char name[80];
    if (base) { /* checked as a whole, against its own type */
        cascade_opt_cfg unused;
        CASCADE_TRY(parse_optimizer(base, NULL, is_adversarial(job->kind), job->batch, &unused));
        CASCADE_TRY(cascade_cfg_check_unused(base));
    }
    for (int i = 0; i < job->n_nets; i++) {
        snprintf(name, sizeof name, "optimizer.%s", job->nets[i]);
        cascade_section *own = cascade_job_section(job, name);
        CASCADE_TRY(parse_optimizer(own, base, is_adversarial(job->kind), job->batch, &job->opt[i]));
        strcpy(job->opt[i].net, job->nets[i]);
        if (own) CASCADE_TRY(cascade_cfg_check_unused(own));
    }
    return CASCADE_OK;
}

/* ---- [gan] / [refiner] ---- */

static cascade_status parse_adversarial(cascade_job *job) {
    cascade_section *gan = cascade_job_section(job, "gan");
    cascade_section *refiner = cascade_job_section(job, "refiner");
    const char *kind = KIND_NAMES[job->kind];
    if (gan && !is_gan(job->kind))
        return cascade_cfg_error(gan, NULL, "belongs to kind = gan, wgan or wgan-gp; this job has "
                                 "kind = %s", kind);
    if (refiner && job->kind != JOB_REFINER)
        return cascade_cfg_error(refiner, NULL, "belongs to kind = refiner; this job has kind = %s",
                                 kind);
    cascade_section absent = stand_in(job, job->kind == JOB_REFINER ? "refiner" : "gan");
    cascade_section *s = gan ? gan : refiner ? refiner : &absent;

    if (job->kind == JOB_REFINER) {
        job->latent = 64;
        CASCADE_TRY(forbid(s, "latent", "a refiner starts from the simulation, not from noise: "
                                        "latent is for gan kinds"));
    } else {
        CASCADE_TRY(cfg_count(s, "latent", 64, 1, &job->latent));
    }
    CASCADE_TRY(cfg_count(s, "critic_steps", 5, 1, &job->critic_steps));
    job->gp_lambda = 10;
    if (job->kind == JOB_WGAN_GP || job->kind == JOB_REFINER)
        CASCADE_TRY(cfg_real(s, "gp_lambda", 10, NONNEGATIVE, &job->gp_lambda));
    else
        CASCADE_TRY(forbid(s, "gp_lambda", "the gradient penalty is for kind = wgan-gp and refiner"));
    job->clip = 0.01;
    if (job->kind == JOB_WGAN)
        CASCADE_TRY(cfg_real(s, "clip", 0.01, POSITIVE, &job->clip));
    else
        CASCADE_TRY(forbid(s, "clip", "weight clipping is for kind = wgan"));
    job->self_regularization = 0.1;
    if (job->kind == JOB_REFINER)
        CASCADE_TRY(cfg_real(s, "self_regularization", 0.1, NONNEGATIVE, &job->self_regularization));
    else
        CASCADE_TRY(forbid(s, "self_regularization", "self_regularization is for kind = refiner"));
    if (job->kind == JOB_WGAN_GP || job->kind == JOB_REFINER)
        CASCADE_TRY(cascade_cfg_bool(s, "one_sided", 0, &job->one_sided));
    else
        CASCADE_TRY(forbid(s, "one_sided", "the one-sided gradient penalty is for kind = wgan-gp and refiner"));
    CASCADE_TRY(cfg_count(s, "sample_every", 0, 0, &job->sample_every));
    /* gan: one generator layer per input; refiner: one refiner layer per input (its heads) */
    CASCADE_TRY(cascade_cfg_namelist(s, "outputs", CASCADE_MAX_NAMES, job->gen_outputs, &job->n_gen_outputs));
    if (job->n_gen_outputs && job->n_gen_outputs != job->n_inputs)
        return cascade_cfg_error(s, cascade_section_peek(s, "outputs"),
                                 "%d %s outputs for %d inputs: give one %s layer per input, in the order of [data] "
                                 "inputs", job->n_gen_outputs, job->kind == JOB_REFINER ? "refiner" : "generator",
                                 job->n_inputs, job->kind == JOB_REFINER ? "refiner" : "generator");
    for (int i = 0; i < job->n_gen_outputs; i++)
        if (!strcmp(job->inputs[i], "z") || !strcmp(job->inputs[i], "c") || !strcmp(job->inputs[i], "x"))
            return cascade_cfg_error(s, cascade_section_peek(s, "outputs"),
                                     "with outputs the nets read each input by its name, and '%s' is reserved (x, z, "
                                     "c): rename the data set", job->inputs[i]);
    job->constrainer_weight = 1;
    if (job->kind != JOB_REFINER) {
        CASCADE_TRY(cfg_path(s, "constrainer", job->constrainer));
        CASCADE_TRY(cfg_real(s, "constrainer_weight", 1, NONNEGATIVE, &job->constrainer_weight));
        if (job->constrainer[0] && !job->n_conditions)
            return cascade_cfg_error(s, cascade_section_peek(s, "constrainer"),
                                     "a constrainer predicts the condition of generated samples: give [data] "
                                     "condition = DATASET, ...");
    } else {
        CASCADE_TRY(forbid(s, "constrainer", "the constrainer is for gan kinds with a condition"));
        CASCADE_TRY(forbid(s, "constrainer_weight", "the constrainer is for gan kinds with a condition"));
    }
    if (job->kind == JOB_REFINER) {
        static const char *const CRITIC_LOSSES[] = {"wgan-gp", "bce", NULL};
        CASCADE_TRY(cascade_cfg_enum(s, "critic_loss", CRITIC_LOSSES, 0, &job->critic_bce));
        CASCADE_TRY(cfg_count(s, "history", 0, 0, &job->history));
        CASCADE_TRY(cfg_count(s, "pretrain_steps", 0, 0, &job->pretrain_steps));
        if (job->n_conditions)
            return cascade_cfg_error(cascade_job_section(job, "data"),
                                     cascade_section_peek(cascade_job_section(job, "data"), "condition"),
                                     "kind = refiner takes no condition: the refiner maps each simulated sample "
                                     "on its own");
    } else {
        CASCADE_TRY(forbid(s, "critic_loss", "critic_loss is for kind = refiner (gan kinds are named by kind)"));
        CASCADE_TRY(forbid(s, "history", "the history buffer is for kind = refiner"));
        CASCADE_TRY(forbid(s, "pretrain_steps", "pretrain_steps is for kind = refiner"));
    }
    return cascade_cfg_check_unused(s);
}

cascade_status cascade_job_validate(cascade_job *job) {
    CASCADE_TRY(parse_job_section(job));
    CASCADE_TRY(classify_sections(job));
    CASCADE_TRY(parse_data(job));
    CASCADE_TRY(parse_train(job));
    CASCADE_TRY(parse_optimizers(job));
    return parse_adversarial(job);
}
