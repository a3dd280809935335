/* Job files: parsing, defaults, optimizer inheritance, adversarial jobs, every error class
 * (code + file:line + key in the message), --set overrides and the round trip of job->text. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cascade/job.h"

static char tmp_dir[4096];

/* Writes text to tmp_dir/name; returns the path (static buffer, one at a time). */
static const char *write_job(const char *name, const char *text) {
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return path;
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    return path;
}

static const char *const SUPERVISED =
    "; an air-shower regression\n"
    "[job]\n"                              /* 2 */
    "name = shower\n"
    "kind = supervised\n"
    "seed = 7\n"
    "nets = model\n"
    "\n"
    "[data]\n"                             /* 8 */
    "train = data/train.h5\n"
    "valid_fraction = 0.1\n"
    "inputs = time, signal   ; stacked as channels\n"
    "targets = xmax\n"
    "normalize = standard\n"
    "layout = channels\n"
    "shuffle = false\n"
    "\n"
    "[train]\n"                            /* 17 */
    "batch = 64\n"                         /* 18 */
    "micro_batch = 16\n"                   /* 19 */
    "epochs = 3\n"
    "loss = mae\n"
    "deterministic = true\n"
    "checkpoint_every = 100\n"
    "keep_checkpoints = 0\n"
    "log_every = 5\n"
    "\n"
    "[optimizer]\n"                        /* 27 */
    "type = sgd\n"
    "lr = 0.05\n"
    "momentum = 0.9\n"
    "nesterov = true\n"
    "\n"
    "# layers\n"
    "[model.conv1]\n"                      /* 34 */
    "type = conv2d\n"
    "input = x\n"
    "filters = 16\n"                       /* 37 */
    "\n"
    "[model.out]\n"                        /* 39 */
    "type = dense\n"
    "units = 1\n";

static void test_supervised(void) {
    cascade_job job;
    const char *path = write_job("supervised.ini", SUPERVISED);
    cascade_status st = cascade_job_load(path, NULL, 0, &job);
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_STRING_EQUAL(job.path, path);
    CU_ASSERT_STRING_EQUAL(job.name, "shower");
    CU_ASSERT_EQUAL(job.kind, JOB_SUPERVISED);
    CU_ASSERT_EQUAL(job.seed, 7);
    CU_ASSERT_EQUAL(job.n_nets, 1);
    CU_ASSERT_STRING_EQUAL(job.nets[0], "model");
    CU_ASSERT_STRING_EQUAL(job.train, "data/train.h5");
    CU_ASSERT_STRING_EQUAL(job.valid, "");
    CU_ASSERT_DOUBLE_EQUAL(job.valid_fraction, 0.1, 0);
    CU_ASSERT_EQUAL(job.n_inputs, 2);
    CU_ASSERT_STRING_EQUAL(job.inputs[0], "time");
    CU_ASSERT_STRING_EQUAL(job.inputs[1], "signal");
    CU_ASSERT_EQUAL(job.n_targets, 1);
    CU_ASSERT_STRING_EQUAL(job.targets[0], "xmax");
    CU_ASSERT_EQUAL(job.n_conditions, 0);
    CU_ASSERT_EQUAL(job.layout, LAYOUT_CHANNELS);
    CU_ASSERT_EQUAL(job.normalize, NORM_STANDARD);
    CU_ASSERT_EQUAL(job.shuffle, 0);
    CU_ASSERT_EQUAL(job.batch, 64);
    CU_ASSERT_EQUAL(job.micro_batch, 16);
    CU_ASSERT_EQUAL(job.epochs, 3);
    CU_ASSERT_EQUAL(job.steps, 0);
    CU_ASSERT_EQUAL(job.loss, LOSS_MAE);
    CU_ASSERT_EQUAL(job.deterministic, 1);
    CU_ASSERT_EQUAL(job.checkpoint_every, 100);
    CU_ASSERT_EQUAL(job.keep_checkpoints, 0);
    CU_ASSERT_EQUAL(job.log_every, 5);
    CU_ASSERT_STRING_EQUAL(job.opt[0].net, "model");
    CU_ASSERT_EQUAL(job.opt[0].type, OPT_SGD);
    CU_ASSERT_DOUBLE_EQUAL(job.opt[0].lr, 0.05, 0);
    CU_ASSERT_DOUBLE_EQUAL(job.opt[0].momentum, 0.9, 0);
    CU_ASSERT_EQUAL(job.opt[0].nesterov, 1);

    /* layers in file order, with their keys untouched for the graph builder */
    CU_ASSERT_EQUAL_FATAL(job.n_layers, 2);
    cascade_section *conv = &job.sections[job.layers[0]];
    CU_ASSERT_STRING_EQUAL(conv->name, "model.conv1");
    CU_ASSERT_EQUAL(conv->line, 34);
    CU_ASSERT_STRING_EQUAL(conv->file, path);
    const cascade_kv *filters = cascade_section_peek(conv, "filters");
    CU_ASSERT_FATAL(filters != NULL);
    CU_ASSERT_STRING_EQUAL(filters->value, "16");
    CU_ASSERT_EQUAL(filters->line, 37);
    CU_ASSERT_EQUAL(cascade_section_peek(conv, "type")->used, 0);
    CU_ASSERT_STRING_EQUAL(job.sections[job.layers[1]].name, "model.out");
    CU_ASSERT_PTR_EQUAL(cascade_job_layer(&job, "model", "out"), &job.sections[job.layers[1]]);
    CU_ASSERT_PTR_NULL(cascade_job_layer(&job, "model", "conv"));
    CU_ASSERT_PTR_NULL(cascade_job_layer(&job, "mode", "l.out"));
    char net[64], layer[64];
    cascade_job_split_layer(conv, net, layer);
    CU_ASSERT_STRING_EQUAL(net, "model");
    CU_ASSERT_STRING_EQUAL(layer, "conv1");
    CU_ASSERT_EQUAL(cascade_job_net_index(&job, "model"), 0);
    CU_ASSERT_EQUAL(cascade_job_net_index(&job, "critic"), -1);
    cascade_section *train = cascade_job_section(&job, "train");
    CU_ASSERT_FATAL(train != NULL);
    CU_ASSERT_EQUAL(cascade_section_peek(train, "micro_batch")->line, 19);
    CU_ASSERT_PTR_NULL(cascade_job_section(&job, "gan"));
    cascade_job_free(&job);
    CU_ASSERT_PTR_NULL(job.sections);
    cascade_job_free(&job); /* twice is harmless */
}

static void test_defaults(void) {
    cascade_job job;
    const char *path = write_job("minimal.ini", "[data]\ntrain = a.h5\ninputs = x1\ntargets = y\n"
                                                "[train]\nsteps = 10\n[model.a]\ntype = dense\n");
    cascade_status st = cascade_job_load(path, NULL, 0, &job);
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_STRING_EQUAL(job.name, "minimal"); /* from the file name */
    CU_ASSERT_EQUAL(job.kind, JOB_SUPERVISED);
    CU_ASSERT_EQUAL(job.seed, 1);
    CU_ASSERT_EQUAL(job.n_nets, 1);
    CU_ASSERT_STRING_EQUAL(job.nets[0], "model");
    CU_ASSERT_STRING_EQUAL(job.valid, "");
    CU_ASSERT_EQUAL(job.valid_fraction, 0);
    CU_ASSERT_STRING_EQUAL(job.target_file, "");
    CU_ASSERT_EQUAL(job.layout, LAYOUT_CHANNELS);
    CU_ASSERT_EQUAL(job.normalize, NORM_NONE);
    CU_ASSERT_EQUAL(job.shuffle, 1);
    CU_ASSERT_EQUAL(job.batch, 128);
    CU_ASSERT_EQUAL(job.micro_batch, 128);
    CU_ASSERT_EQUAL(job.epochs, 0);
    CU_ASSERT_EQUAL(job.steps, 10);
    CU_ASSERT_EQUAL(job.loss, LOSS_MSE);
    CU_ASSERT_EQUAL(job.deterministic, 0);
    CU_ASSERT_EQUAL(job.checkpoint_every, 500);
    CU_ASSERT_EQUAL(job.keep_checkpoints, 3);
    CU_ASSERT_EQUAL(job.log_every, 10);
    const cascade_opt_cfg *o = &job.opt[0];
    CU_ASSERT_STRING_EQUAL(o->net, "model");
    CU_ASSERT_EQUAL(o->type, OPT_ADAM);
    CU_ASSERT_DOUBLE_EQUAL(o->lr, 1e-3, 0);
    CU_ASSERT_DOUBLE_EQUAL(o->beta1, 0.9, 0);
    CU_ASSERT_DOUBLE_EQUAL(o->beta2, 0.999, 0);
    CU_ASSERT_DOUBLE_EQUAL(o->eps, 1e-8, 0);
    CU_ASSERT_EQUAL(o->weight_decay, 0);
    CU_ASSERT_EQUAL(o->momentum, 0);
    CU_ASSERT_EQUAL(o->nesterov, 0);
    CU_ASSERT_EQUAL(o->schedule, SCHED_CONSTANT);
    CU_ASSERT_DOUBLE_EQUAL(o->gamma, 0.1, 0);
    CU_ASSERT_EQUAL(o->min_lr, 0);
    CU_ASSERT_DOUBLE_EQUAL(o->power, 1, 0);
    CU_ASSERT_EQUAL(o->warmup, 0);
    CU_ASSERT_EQUAL(job.latent, 64);
    CU_ASSERT_EQUAL(job.critic_steps, 5);
    CU_ASSERT_DOUBLE_EQUAL(job.gp_lambda, 10, 0);
    CU_ASSERT_DOUBLE_EQUAL(job.clip, 0.01, 0);
    CU_ASSERT_DOUBLE_EQUAL(job.self_regularization, 0.1, 0);
    /* the derived name is part of the job as run; [job] is created first */
    CU_ASSERT_PTR_NOT_NULL(strstr(job.text, "[job]\nname = minimal\n"));
    CU_ASSERT_STRING_EQUAL(job.sections[0].name, "job");
    cascade_job_free(&job);

    /* per-type torch.optim defaults */
    const char *const types[] = {"optimizer.type=adamw", "optimizer.type=rmsprop", "optimizer.type=sgd"};
    const double lr[] = {1e-3, 1e-2, 1e-3}, wd[] = {1e-2, 0, 0};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(cascade_job_load(path, &types[i], 1, &job), CASCADE_OK);
        CU_ASSERT_DOUBLE_EQUAL(job.opt[0].lr, lr[i], 0);
        CU_ASSERT_DOUBLE_EQUAL(job.opt[0].weight_decay, wd[i], 0);
        if (i == 1) CU_ASSERT_DOUBLE_EQUAL(job.opt[0].alpha, 0.99, 0);
        cascade_job_free(&job);
    }
}

static const char *const WGAN_GP =
    "[job]\n"
    "kind = wgan-gp\n"
    "[data]\n"
    "train = calo.h5\n"
    "inputs = layer_1\n"
    "condition = energy\n"
    "[gan]\n"
    "latent = 32\n"
    "critic_steps = 3\n"
    "gp_lambda = 5\n"
    "[train]\n"
    "batch = 32\n"
    "steps = 100\n"
    "[optimizer]\n"                 /* 14 */
    "type = adam\n"
    "lr = 2e-4\n"
    "betas = 0.5, 0.9\n"
    "schedule = step\n"
    "step_size = 50\n"
    "gamma = 0.5\n"
    "[optimizer.critic]\n"          /* 21 */
    "type = rmsprop\n"
    "lr = 5e-5\n"
    "centered = yes\n"
    "[optimizer.generator]\n"       /* 25 */
    "weight_decay = 0.1\n"
    "[generator.fc]\n"
    "type = dense\n"
    "input = z\n"
    "units = 432\n"
    "[critic.fc]\n"
    "type = dense\n"
    "units = 1\n";

static void test_gan_and_inheritance(void) {
    cascade_job job;
    const char *path = write_job("wgan.ini", WGAN_GP);
    cascade_status st = cascade_job_load(path, NULL, 0, &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(job.kind, JOB_WGAN_GP);
    CU_ASSERT_EQUAL(job.n_nets, 2);
    CU_ASSERT_STRING_EQUAL(job.nets[0], "generator"); /* default for gan kinds */
    CU_ASSERT_STRING_EQUAL(job.nets[1], "critic");
    CU_ASSERT_EQUAL(job.n_targets, 0);
    CU_ASSERT_EQUAL(job.n_conditions, 1);
    CU_ASSERT_STRING_EQUAL(job.conditions[0], "energy");
    CU_ASSERT_EQUAL(job.latent, 32);
    CU_ASSERT_EQUAL(job.critic_steps, 3);
    CU_ASSERT_DOUBLE_EQUAL(job.gp_lambda, 5, 0);
    CU_ASSERT_EQUAL(job.n_layers, 2);
    /* generator: [optimizer] + its own weight_decay */
    const cascade_opt_cfg *g = &job.opt[cascade_job_net_index(&job, "generator")];
    CU_ASSERT_STRING_EQUAL(g->net, "generator");
    CU_ASSERT_EQUAL(g->type, OPT_ADAM);
    CU_ASSERT_DOUBLE_EQUAL(g->lr, 2e-4, 0);
    CU_ASSERT_DOUBLE_EQUAL(g->beta1, 0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(g->beta2, 0.9, 0);
    CU_ASSERT_DOUBLE_EQUAL(g->weight_decay, 0.1, 0);
    CU_ASSERT_EQUAL(g->schedule, SCHED_STEP);
    CU_ASSERT_EQUAL(g->step_size, 50);
    CU_ASSERT_DOUBLE_EQUAL(g->gamma, 0.5, 0);
    /* critic: own type and lr; the schedule is inherited, betas (adam only) are not */
    const cascade_opt_cfg *c = &job.opt[cascade_job_net_index(&job, "critic")];
    CU_ASSERT_STRING_EQUAL(c->net, "critic");
    CU_ASSERT_EQUAL(c->type, OPT_RMSPROP);
    CU_ASSERT_DOUBLE_EQUAL(c->lr, 5e-5, 0);
    CU_ASSERT_EQUAL(c->centered, 1);
    CU_ASSERT_DOUBLE_EQUAL(c->alpha, 0.99, 0);
    CU_ASSERT_DOUBLE_EQUAL(c->beta1, 0.9, 0);
    CU_ASSERT_EQUAL(c->weight_decay, 0);
    CU_ASSERT_EQUAL(c->schedule, SCHED_STEP);
    CU_ASSERT_EQUAL(c->step_size, 50);
    cascade_job_free(&job);

    /* refiner: nets refiner, critic; target file required; self_regularization */
    const char *refiner =
        "[job]\nkind = refiner\n[data]\ntrain = sim.h5\ntarget = measured.h5\ninputs = charge\n"
        "[refiner]\nself_regularization = 0.5\ncritic_steps = 2\n[train]\nepochs = 1\n"
        "[refiner.c1]\ntype = conv2d\n[critic.c1]\ntype = conv2d\n";
    st = cascade_job_load(write_job("refiner.ini", refiner), NULL, 0, &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(job.kind, JOB_REFINER);
    CU_ASSERT_STRING_EQUAL(job.nets[0], "refiner");
    CU_ASSERT_STRING_EQUAL(job.nets[1], "critic");
    CU_ASSERT_STRING_EQUAL(job.target_file, "measured.h5");
    CU_ASSERT_DOUBLE_EQUAL(job.self_regularization, 0.5, 0);
    CU_ASSERT_EQUAL(job.critic_steps, 2);
    CU_ASSERT_DOUBLE_EQUAL(job.gp_lambda, 10, 0);
    cascade_job_free(&job);

    /* autoencoder: no targets, one net */
    const char *ae = "[job]\nkind = autoencoder\nnets = ae\n[data]\ntrain = r.h5\ninputs = noisy\n"
                     "[train]\nepochs = 2\n[ae.enc]\ntype = dense\n";
    st = cascade_job_load(write_job("ae.ini", ae), NULL, 0, &job);
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(job.kind, JOB_AUTOENCODER);
    CU_ASSERT_STRING_EQUAL(job.nets[0], "ae");
    CU_ASSERT_EQUAL(job.loss, LOSS_MSE);
    cascade_job_free(&job);
}

/* ---- errors ---- */

/* Replaces the first occurrence of `from` in base by `to` (a job with one mistake). */
static char *edit(const char *base, const char *from, const char *to) {
    static char out[8192];
    const char *at = strstr(base, from);
    if (!at) {
        snprintf(out, sizeof out, "edit: '%s' not found", from);
        return out;
    }
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
    return out;
}

/* Loads `text` from a file (with --set args), expects `code` and a message holding every
 * fragment and (names_file) the file name; errors in a --set value name the --set instead. */
static void expect_error_at(int line, const char *text, const char *const *sets, int n_sets,
                            int names_file, cascade_status code, const char *const *fragments) {
    cascade_job job;
    char what[256];
    const char *path = write_job("bad.ini", text);
    cascade_status st = cascade_job_load(path, sets, n_sets, &job);
    const char *msg = cascade_errmsg();
    int ok = st == code && (!names_file || strstr(msg, "bad.ini") != NULL);
    for (int i = 0; fragments[i]; i++) ok = ok && strstr(msg, fragments[i]) != NULL;
    snprintf(what, sizeof what, "error case at line %d", line);
    CU_assertImplementation(ok, (unsigned)line, what, __FILE__, "", CU_FALSE);
    if (!ok) printf("\n  line %d: status %d (want %d): %s\n", line, st, code, st ? msg : "(ok)");
    CU_ASSERT_PTR_NULL(job.sections); /* left freed */
}
#define EXPECT_ERROR(text, code, ...) \
    expect_error_at(__LINE__, text, NULL, 0, 1, code, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_SET_ERROR(text, set, code, ...)                                            \
    expect_error_at(__LINE__, text, (const char *const[]){set}, 1, 0, code,               \
                    (const char *const[]){__VA_ARGS__, NULL})

static void test_file_errors(void) {
    cascade_job job;
    char path[8192];
    snprintf(path, sizeof path, "%s/does-not-exist.ini", tmp_dir);
    CU_ASSERT_EQUAL(cascade_job_load(path, NULL, 0, &job), CASCADE_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), path));
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), strerror(ENOENT)));
    CU_ASSERT_EQUAL(cascade_job_load(tmp_dir, NULL, 0, &job), CASCADE_EIO); /* a directory */
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), tmp_dir));

    /* an HDF5 file given as the job */
    snprintf(path, sizeof path, "%s/data.h5", tmp_dir);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    fwrite("\211HDF\r\n\032\n\0\0\0", 1, 11, f);
    fclose(f);
    CU_ASSERT_EQUAL(cascade_job_load(path, NULL, 0, &job), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "data.h5: not a job file"));
}

static void test_syntax_errors(void) {
    EXPECT_ERROR(edit(SUPERVISED, "seed = 7\n", "seed 7\n"), CASCADE_EUSAGE, ":5: syntax error",
                 "seed 7");
    EXPECT_ERROR(edit(SUPERVISED, "[train]", "[train"), CASCADE_EUSAGE, ":17: syntax error");
    EXPECT_ERROR(edit(SUPERVISED, "[train]", "[train] extra"), CASCADE_EUSAGE, ":17:", "extra");
    EXPECT_ERROR(edit(SUPERVISED, "micro_batch = 16\n", "micro_batch = 16\n batch = 8\n"),
                 CASCADE_EUSAGE, ":20: indented line", "micro_batch", "line 19");
    EXPECT_ERROR(edit(SUPERVISED, "; an air", "x = 1\n; an air"), CASCADE_EUSAGE, ":1:",
                 "'x' before the first [section]");
    EXPECT_ERROR(edit(SUPERVISED, "epochs = 3\n", "epochs = 3\nbatch = 32\n"), CASCADE_EUSAGE,
                 ":21: [train] batch", "given twice", "line 18");
    EXPECT_ERROR(edit(SUPERVISED, "[model.out]", "[train]"), CASCADE_EUSAGE, ":39:",
                 "[train] appears twice", "line 17");
    EXPECT_ERROR(edit(SUPERVISED, "units = 1\n", "units = 1\n[]\n"), CASCADE_EUSAGE, ":42:",
                 "empty section");
}

/* 10^5 sections: a repeated header found by name (hashed), every layer section classified once
 * (a quadratic reader took minutes here; now well under a second). */
static void test_many_sections(void) {
    enum { N = 100000 };
    size_t cap = (size_t)N * 40 + 4096, used = 0;
    char *text = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    used += (size_t)snprintf(text, cap, "[job]\nname = many\n[data]\ntrain = d.h5\ninputs = a\ntargets = b\n"
                                        "[train]\nbatch = 4\nepochs = 1\n");
    for (int i = 0; i < N; i++) used += (size_t)snprintf(text + used, cap - used, "[model.l%d]\ntype = relu\n", i);
    snprintf(text + used, cap - used, "[model.l%d]\ntype = relu\n", N / 2);
    /* line of the repeated header: 9 header lines, 2 per layer section */
    char where[32], first[32];
    snprintf(where, sizeof where, ":%d:", 9 + 2 * N + 1);
    snprintf(first, sizeof first, "first at line %d", 9 + 2 * (N / 2) + 1);
    EXPECT_ERROR(text, CASCADE_EUSAGE, where, "appears twice", first);
    text[used] = 0; /* without the repeat: read, expanded and classified */
    cascade_job job;
    CU_ASSERT_EQUAL_FATAL(cascade_job_parse(text, "many.ini", NULL, 0, &job), CASCADE_OK);
    CU_ASSERT_EQUAL(job.n_layers, N);
    cascade_job_free(&job);
    free(text);
}

static void test_huge_counts(void) {
    EXPECT_ERROR(edit(SUPERVISED, "epochs = 3", "epochs = 1000000000000000000"), CASCADE_EUSAGE, "epochs",
                 "at most 10^9");
    EXPECT_ERROR(edit(SUPERVISED, "epochs = 3", "steps = 9000000000000000000"), CASCADE_EUSAGE, "steps",
                 "at most 10^15");
}

static void test_section_errors(void) {
    EXPECT_ERROR(edit(SUPERVISED, "[model.out]", "[training]"), CASCADE_EUSAGE, ":39:",
                 "[training]", "unknown section");
    EXPECT_ERROR(edit(SUPERVISED, "[model.out]", "[critic.out]"), CASCADE_EUSAGE, ":39:",
                 "[critic.out]", "'critic' is not a net");
    EXPECT_ERROR(edit(SUPERVISED, "[model.out]", "[model.out.x]"), CASCADE_EUSAGE, ":39:",
                 "[model.out.x]", "layer name");
    EXPECT_ERROR(edit(SUPERVISED, "[model.out]\ntype = dense", "[model.out]\nkind = dense"),
                 CASCADE_EUSAGE, ":39:", "[model.out]", "missing key 'type'");
    EXPECT_ERROR(edit(SUPERVISED, "[optimizer]", "[optimizer.critic]"), CASCADE_EUSAGE, ":27:",
                 "[optimizer.critic]", "no net 'critic'");
    EXPECT_ERROR(edit(SUPERVISED, "nets = model", "nets = model, extra"), CASCADE_EUSAGE, ":6:",
                 "[job] nets", "needs one net");
    EXPECT_ERROR(edit(WGAN_GP, "kind = wgan-gp", "kind = wgan-gp\nnets = generator"),
                 CASCADE_EUSAGE, ":3:", "nets", "two nets");
    EXPECT_ERROR(edit(WGAN_GP, "[critic.fc]", "[generator.fc2]"), CASCADE_EUSAGE, "critic",
                 "no layers");
    EXPECT_ERROR(edit(SUPERVISED, "[train]", "[gan]\nlatent = 3\n[train]"), CASCADE_EUSAGE, ":17:",
                 "[gan]", "kind = supervised");
    EXPECT_ERROR(edit(SUPERVISED, "nets = model", "nets = optimizer"), CASCADE_EUSAGE, ":6:", "nets",
                 "'optimizer'");
    EXPECT_ERROR(edit(SUPERVISED, "nets = model", "nets = my.net"), CASCADE_EUSAGE, ":6:", "nets",
                 "'my.net'");
}

static void test_key_errors(void) {
    EXPECT_ERROR(edit(SUPERVISED, "loss = mae", "bogus = 1"), CASCADE_EUSAGE, ":21:",
                 "unknown key 'bogus' in [train]");
    EXPECT_ERROR(edit(SUPERVISED, "batch = 64", "batch = 6x4"), CASCADE_EUSAGE, ":18:",
                 "[train] batch = 6x4", "not an integer");
    EXPECT_ERROR(edit(SUPERVISED, "batch = 64", "batch = 0"), CASCADE_EUSAGE, ":18:",
                 "batch = 0", ">= 1");
    EXPECT_ERROR(edit(SUPERVISED, "batch = 64", "batch = 60"), CASCADE_EUSAGE, ":19:",
                 "micro_batch = 16", "batch = 60 (line 18)", "multiple");
    EXPECT_ERROR(edit(SUPERVISED, "micro_batch = 16", "micro_batch = 128"), CASCADE_EUSAGE,
                 ":19:", "micro_batch = 128", "batch = 64");
    EXPECT_ERROR(edit(SUPERVISED, "epochs = 3", "epochs = 3\nsteps = 9"), CASCADE_EUSAGE, ":21:",
                 "steps = 9", "epochs (line 20)");
    EXPECT_ERROR(edit(SUPERVISED, "epochs = 3\n", ""), CASCADE_EUSAGE, ":17:", "[train]",
                 "epochs = N or steps");
    EXPECT_ERROR(edit(SUPERVISED, "loss = mae", "loss = l2"), CASCADE_EUSAGE, ":21:", "loss = l2",
                 "mse | mae | huber | bce | ce");
    EXPECT_ERROR(edit(SUPERVISED, "kind = supervised", "kind = regression"), CASCADE_EUSAGE,
                 ":4:", "kind = regression");
    EXPECT_ERROR(edit(SUPERVISED, "shuffle = false", "shuffle = maybe"), CASCADE_EUSAGE, ":15:",
                 "shuffle = maybe");
    EXPECT_ERROR(edit(SUPERVISED, "log_every = 5", "log_every = 0"), CASCADE_EUSAGE, ":25:",
                 "log_every");
    EXPECT_ERROR(edit(SUPERVISED, "keep_checkpoints = 0", "keep_checkpoints = -1"),
                 CASCADE_EUSAGE, ":24:", "keep_checkpoints");
    EXPECT_ERROR(edit(SUPERVISED, "name = shower", "name = my run"), CASCADE_EUSAGE, ":3:",
                 "name = my run");
    /* [data] */
    EXPECT_ERROR(edit(SUPERVISED, "train = data/train.h5\n", ""), CASCADE_EUSAGE, ":8:", "[data]",
                 "train = ");
    EXPECT_ERROR(edit(SUPERVISED, "inputs = time, signal   ; stacked as channels\n", ""),
                 CASCADE_EUSAGE, ":8:", "inputs = ");
    EXPECT_ERROR(edit(SUPERVISED, "inputs = time, signal", "inputs = time, time"),
                 CASCADE_EUSAGE, ":11:", "inputs", "'time' is listed twice");
    EXPECT_ERROR(edit(SUPERVISED, "targets = xmax\n", ""), CASCADE_EUSAGE, ":8:", "targets = ");
    EXPECT_ERROR(edit(SUPERVISED, "valid_fraction = 0.1", "valid_fraction = 1.5"), CASCADE_EUSAGE,
                 ":10:", "valid_fraction = 1.5", "< 1");
    EXPECT_ERROR(edit(SUPERVISED, "valid_fraction = 0.1", "valid = v.h5\nvalid_fraction = 0.1"),
                 CASCADE_EUSAGE, ":11:", "valid_fraction", "valid (line 10)");
    EXPECT_ERROR(edit(SUPERVISED, "targets = xmax", "target = xmax"), CASCADE_EUSAGE, ":12:",
                 "target = xmax", "targets");
    EXPECT_ERROR(edit(SUPERVISED, "layout = channels", "layout = nchw"), CASCADE_EUSAGE, ":14:",
                 "layout = nchw");
    const char *ae = "[job]\nkind = autoencoder\n[data]\ntrain = r.h5\ninputs = a\ntargets = a\n"
                     "[train]\nepochs = 2\n[model.enc]\ntype = dense\n";
    EXPECT_ERROR(ae, CASCADE_EUSAGE, ":6:", "targets = a", "autoencoder");
    const char *refiner = "[job]\nkind = refiner\n[data]\ntrain = sim.h5\ninputs = q\n"
                          "[train]\nepochs = 1\n[refiner.a]\ntype = dense\n[critic.a]\ntype = dense\n";
    EXPECT_ERROR(refiner, CASCADE_EUSAGE, ":3:", "[data]", "target = ");
    /* [optimizer] */
    EXPECT_ERROR(edit(SUPERVISED, "lr = 0.05", "lr = 0"), CASCADE_EUSAGE, ":29:", "lr = 0", "> 0");
    EXPECT_ERROR(edit(SUPERVISED, "lr = 0.05", "lr = fast"), CASCADE_EUSAGE, ":29:", "lr = fast");
    EXPECT_ERROR(edit(SUPERVISED, "momentum = 0.9\n", ""), CASCADE_EUSAGE, ":30:", "nesterov",
                 "momentum > 0");
    EXPECT_ERROR(edit(SUPERVISED, "type = sgd", "type = adam"), CASCADE_EUSAGE, ":30:",
                 "momentum = 0.9", "does not apply to type = adam");
    EXPECT_ERROR(edit(SUPERVISED, "type = sgd", "type = lbfgs"), CASCADE_EUSAGE, ":28:",
                 "type = lbfgs");
    EXPECT_ERROR(edit(SUPERVISED, "nesterov = true", "schedule = step"), CASCADE_EUSAGE, ":31:",
                 "schedule = step", "step_size");
    EXPECT_ERROR(edit(SUPERVISED, "nesterov = true", "min_lr = 0.1"), CASCADE_EUSAGE, ":31:",
                 "min_lr", "schedule = cosine");
    EXPECT_ERROR(edit(SUPERVISED, "nesterov = true", "power = 2"), CASCADE_EUSAGE, ":31:",
                 "power", "schedule = poly");
    EXPECT_ERROR(edit(SUPERVISED, "nesterov = true", "schedule = poly\npower = 0"), CASCADE_EUSAGE,
                 ":32:", "power = 0", "> 0");
    EXPECT_ERROR(edit(WGAN_GP, "betas = 0.5, 0.9", "betas = 0.5, 1.0"), CASCADE_EUSAGE, ":17:",
                 "betas", "< 1");
    EXPECT_ERROR(edit(WGAN_GP, "betas = 0.5, 0.9", "betas = 0.5"), CASCADE_EUSAGE, ":17:",
                 "betas", "two values");
    EXPECT_ERROR(edit(WGAN_GP, "centered = yes", "centered = yes\nbetas = 0.1, 0.2"),
                 CASCADE_EUSAGE, ":25:", "[optimizer.critic] betas", "type = rmsprop");
    EXPECT_ERROR(edit(WGAN_GP, "weight_decay = 0.1", "weight_decay = -1"), CASCADE_EUSAGE, ":26:",
                 "[optimizer.generator] weight_decay");
    EXPECT_ERROR(edit(WGAN_GP, "weight_decay = 0.1", "decay = 1"), CASCADE_EUSAGE, ":26:",
                 "unknown key 'decay' in [optimizer.generator]");
    /* [gan] and adversarial [train] */
    EXPECT_ERROR(edit(WGAN_GP, "latent = 32", "latent = 0"), CASCADE_EUSAGE, ":8:", "latent = 0");
    EXPECT_ERROR(edit(WGAN_GP, "gp_lambda = 5", "clip = 0.1"), CASCADE_EUSAGE, ":10:", "clip",
                 "kind = wgan");
    EXPECT_ERROR(edit(WGAN_GP, "kind = wgan-gp", "kind = gan"), CASCADE_EUSAGE, ":10:",
                 "gp_lambda");
    EXPECT_ERROR(edit(WGAN_GP, "steps = 100", "steps = 100\nloss = bce"), CASCADE_EUSAGE, ":14:",
                 "loss = bce", "own losses");
    EXPECT_ERROR(edit(WGAN_GP, "inputs = layer_1", "inputs = layer_1\ntargets = e"),
                 CASCADE_EUSAGE, ":6:", "targets = e");
    EXPECT_ERROR(edit(WGAN_GP, "[gan]", "[refiner]"), CASCADE_EUSAGE, ":7:", "[refiner]",
                 "kind = refiner");
    EXPECT_ERROR(edit(WGAN_GP, "critic_steps = 3", "critic_steps = 3\nsteps = 3"), CASCADE_EUSAGE,
                 ":10:", "unknown key 'steps' in [gan]");
    EXPECT_ERROR(edit(WGAN_GP, "gp_lambda = 5", "history = 64"), CASCADE_EUSAGE, ":10:", "history",
                 "kind = refiner");
    EXPECT_ERROR(edit(WGAN_GP, "gp_lambda = 5", "critic_loss = bce"), CASCADE_EUSAGE, ":10:", "critic_loss");
    EXPECT_ERROR(edit(WGAN_GP, "gp_lambda = 5", "pretrain_steps = 3"), CASCADE_EUSAGE, ":10:",
                 "pretrain_steps");
    {
        char wgan[8192]; /* edit() returns one static buffer */
        snprintf(wgan, sizeof wgan, "%s", edit(WGAN_GP, "kind = wgan-gp", "kind = wgan"));
        EXPECT_ERROR(edit(wgan, "gp_lambda = 5", "one_sided = true"), CASCADE_EUSAGE, ":10:", "one_sided",
                     "wgan-gp and refiner");
    }
}

/* Adversarial kinds: Adam defaults of Gulrajani et al.; the refiner's keys and their errors. */
/* [train] and [data] keys that cannot apply to an adversarial kind are errors naming the key
 * and the kind (one training loop runs every kind: a key is honoured or rejected). */
static void test_keys_per_kind(void) {
    EXPECT_ERROR(edit(WGAN_GP, "steps = 100\n", "steps = 100\nearly_stopping = 3\n"), CASCADE_EUSAGE, ":14:",
                 "early_stopping", "kind = wgan-gp", "validation loss");
    char gan[8192]; /* edit returns its own buffer */
    snprintf(gan, sizeof gan, "%s", edit(WGAN_GP, "kind = wgan-gp", "kind = gan"));
    snprintf(gan, sizeof gan, "%s", edit(gan, "gp_lambda = 5\n", ""));
    EXPECT_ERROR(edit(gan, "steps = 100\n", "steps = 100\nclass_weights = 1, 2\n"), CASCADE_EUSAGE, ":13:",
                 "class_weights", "kind = gan", "sets its own losses");
    EXPECT_SET_ERROR(WGAN_GP, "train.class_weights=1,2", CASCADE_EUSAGE, "class_weights", "kind = wgan-gp");
    EXPECT_ERROR(edit(WGAN_GP, "inputs = layer_1\n", "inputs = layer_1\nmemory_budget_mb = 64\n"),
                 CASCADE_EUSAGE, ":6:", "memory_budget_mb", "kind = wgan-gp", "supervised and autoencoder");
    EXPECT_SET_ERROR(WGAN_GP, "data.memory_budget_mb=1", CASCADE_EUSAGE, "memory_budget_mb", "kind = wgan-gp");
    /* the same keys train supervised jobs */
    cascade_job job;
    const char *path = write_job("keys.ini", edit(SUPERVISED, "epochs = 3", "epochs = 3\nearly_stopping = 2"));
    cascade_status st = cascade_job_load(path, (const char *const[]){"data.memory_budget_mb=64"}, 1, &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(job.early_stopping, 2);
    CU_ASSERT_DOUBLE_EQUAL(job.memory_budget_mb, 64, 0);
    cascade_job_free(&job);
}

static void test_adversarial_defaults(void) {
    cascade_job job;
    char text[8192];
    snprintf(text, sizeof text, "%s", edit(WGAN_GP, "lr = 2e-4\nbetas = 0.5, 0.9\n", ""));
    const char *path = write_job("wgan-defaults.ini", text);
    cascade_status st = cascade_job_load(path, NULL, 0, &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    const cascade_opt_cfg *g = &job.opt[cascade_job_net_index(&job, "generator")];
    CU_ASSERT_DOUBLE_EQUAL(g->lr, 1e-4, 0);
    CU_ASSERT_DOUBLE_EQUAL(g->beta1, 0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(g->beta2, 0.9, 0);
    CU_ASSERT_EQUAL(job.one_sided, 0);
    cascade_job_free(&job);
    static const char *const REFINER =
        "[job]\nkind = refiner\n[data]\ntrain = sim.h5\ntarget = data.h5\ninputs = signal\n"
        "[refiner]\ncritic_loss = bce\nhistory = 512\npretrain_steps = 7\none_sided = true\n"
        "self_regularization = 0.3\n[train]\nsteps = 10\n[refiner.out]\ntype = add\ninput = x, x\n"
        "[critic.fc]\ntype = dense\nunits = 1\n";
    path = write_job("refiner.ini", REFINER);
    st = cascade_job_load(path, NULL, 0, &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(job.kind, JOB_REFINER);
    CU_ASSERT_EQUAL(job.critic_bce, 1);
    CU_ASSERT_EQUAL(job.history, 512);
    CU_ASSERT_EQUAL(job.pretrain_steps, 7);
    CU_ASSERT_EQUAL(job.one_sided, 1);
    CU_ASSERT_DOUBLE_EQUAL(job.self_regularization, 0.3, 0);
    CU_ASSERT_DOUBLE_EQUAL(job.opt[0].lr, 1e-4, 0);
    cascade_job_free(&job);
    EXPECT_ERROR(edit(REFINER, "critic_loss = bce", "critic_loss = hinge"), CASCADE_EUSAGE, ":8:", "critic_loss",
                 "wgan-gp");
    EXPECT_ERROR(edit(REFINER, "history = 512", "history = -1"), CASCADE_EUSAGE, ":9:", "history");
    EXPECT_ERROR(edit(REFINER, "inputs = signal", "inputs = signal\ncondition = e"), CASCADE_EUSAGE, ":7:",
                 "kind = refiner takes no condition");
}

/* ---- --set ---- */

static void test_overrides(void) {
    cascade_job job;
    const char *path = write_job("supervised.ini", SUPERVISED);
    const char *const sets[] = {"train.batch=32", "model.conv1.filters = 32", "model.out.bias=false",
                                "data.valid_fraction=", "data.valid=v.h5", "optimizer.model.lr=0.5"};
    cascade_status st = cascade_job_load(path, sets, 6, &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(job.batch, 32);
    CU_ASSERT_EQUAL(job.micro_batch, 16);
    CU_ASSERT_STRING_EQUAL(job.valid, "v.h5");
    CU_ASSERT_EQUAL(job.valid_fraction, 0);
    CU_ASSERT_DOUBLE_EQUAL(job.opt[0].lr, 0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(job.opt[0].momentum, 0.9, 0);
    const cascade_kv *filters = cascade_section_peek(cascade_job_layer(&job, "model", "conv1"), "filters");
    CU_ASSERT_STRING_EQUAL(filters->value, "32");
    CU_ASSERT_EQUAL(filters->line, 0);
    const cascade_kv *bias = cascade_section_peek(cascade_job_layer(&job, "model", "out"), "bias");
    CU_ASSERT_FATAL(bias != NULL);
    CU_ASSERT_STRING_EQUAL(bias->value, "false");
    /* the job as run carries the overrides */
    CU_ASSERT_PTR_NOT_NULL(strstr(job.text, "[train]\nbatch = 32\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(job.text, "filters = 32\n"));
    CU_ASSERT_PTR_NULL(strstr(job.text, "valid_fraction"));
    CU_ASSERT_PTR_NOT_NULL(strstr(job.text, "[optimizer.model]\nlr = 0.5\n"));
    cascade_job_free(&job);
    /* [gan] made by --set belongs to gan kinds only */
    const char *const gan[] = {"gan.latent=8"};
    CU_ASSERT_EQUAL(cascade_job_load(path, gan, 1, &job), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "--set gan"));

    EXPECT_SET_ERROR(SUPERVISED, "train.batch=abc", CASCADE_EUSAGE, "--set train.batch=abc",
                     "not an integer");
    EXPECT_SET_ERROR(SUPERVISED, "train.micro_batch=48", CASCADE_EUSAGE, "--set train.micro_batch=48",
                     "batch = 64 (line 18)");
    EXPECT_SET_ERROR(SUPERVISED, "train.batch=40", CASCADE_EUSAGE, "bad.ini:19:", "micro_batch = 16",
                     "batch = 40 (--set)");
    EXPECT_SET_ERROR(SUPERVISED, "train.bogus=1", CASCADE_EUSAGE, "--set train.bogus",
                     "unknown key 'bogus'");
    EXPECT_SET_ERROR(SUPERVISED, "train.steps=5", CASCADE_EUSAGE, "--set train.steps=5",
                     "epochs (line 20)");
    EXPECT_SET_ERROR(SUPERVISED, "model.conv9.filters=3", CASCADE_EUSAGE, "--set model.conv9.filters",
                     "no section [model.conv9]");
    EXPECT_SET_ERROR(SUPERVISED, "trainbatch=3", CASCADE_EUSAGE, "--set trainbatch",
                     "SECTION.KEY=VALUE");
    EXPECT_SET_ERROR(SUPERVISED, "train.batch", CASCADE_EUSAGE, "--set train.batch",
                     "SECTION.KEY=VALUE");
    EXPECT_SET_ERROR(SUPERVISED, "job.name=a;b", CASCADE_EUSAGE, "--set job.name", "';'");
    EXPECT_SET_ERROR(SUPERVISED, "optimizer.critic.lr=1", CASCADE_EUSAGE, "--set optimizer.critic",
                     "no net 'critic'");
    EXPECT_SET_ERROR(SUPERVISED, "data.train=", CASCADE_EUSAGE, "bad.ini:8:", "train = ");
}

/* ---- the job as run ---- */

static int same_sections(const cascade_job *a, const cascade_job *b) {
    if (a->n_sections != b->n_sections || a->n_layers != b->n_layers) return 0;
    for (int i = 0; i < a->n_layers; i++)
        if (a->layers[i] != b->layers[i]) return 0;
    for (int i = 0; i < a->n_sections; i++) {
        const cascade_section *x = &a->sections[i], *y = &b->sections[i];
        if (strcmp(x->name, y->name) || x->nkv != y->nkv) return 0;
        for (int k = 0; k < x->nkv; k++)
            if (strcmp(x->kv[k].key, y->kv[k].key) || strcmp(x->kv[k].value, y->kv[k].value)) return 0;
    }
    return 1;
}

/* Every typed field equal: the struct from `text` up to (excluding) the sections. */
static int same_job(const cascade_job *a, const cascade_job *b) {
    size_t from = offsetof(cascade_job, name), to = offsetof(cascade_job, n_sections);
    return memcmp((const char *)a + from, (const char *)b + from, to - from) == 0 &&
           same_sections(a, b) && strcmp(a->text, b->text) == 0;
}

static void round_trip(const char *name, const char *text, const char *const *sets, int n_sets) {
    cascade_job a, b, c;
    memset(&a, 0, sizeof a); /* padding too, for memcmp */
    memset(&b, 0, sizeof b);
    cascade_status st = cascade_job_load(write_job(name, text), sets, n_sets, &a);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    st = cascade_job_parse(a.text, "run/job.ini", NULL, 0, &b);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT(same_job(&a, &b));
    CU_ASSERT_STRING_EQUAL(b.path, "run/job.ini");
    /* written and read back as RUNDIR/job.ini */
    char path[8192];
    snprintf(path, sizeof path, "%s/%s.run.ini", tmp_dir, name);
    CU_ASSERT_EQUAL_FATAL(cascade_job_write(&a, path), CASCADE_OK);
    CU_ASSERT_EQUAL_FATAL(cascade_job_load(path, NULL, 0, &c), CASCADE_OK);
    CU_ASSERT(same_job(&a, &c));
    cascade_job_free(&a);
    cascade_job_free(&b);
    cascade_job_free(&c);
}

static void test_round_trip(void) {
    const char *const sets[] = {"train.batch=32", "model.conv1.filters=8", "optimizer.model.lr=0.5"};
    round_trip("rt-supervised.ini", SUPERVISED, sets, 3);
    round_trip("rt-wgan.ini", WGAN_GP, NULL, 0);
    round_trip("rt-minimal.ini", "[data]\ntrain=a.h5\ninputs=x\ntargets=y\n[train]\nsteps=1\n"
                                 "[model.a]\ntype=dense\n", NULL, 0);
    cascade_job job;
    CU_ASSERT_EQUAL_FATAL(cascade_job_load(write_job("rt.ini", SUPERVISED), NULL, 0, &job), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_job_write(&job, "/nonexistent-dir/job.ini"), CASCADE_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "/nonexistent-dir/job.ini"));
    cascade_job_free(&job);

    /* text from a checkpoint that does not validate names its origin */
    CU_ASSERT_EQUAL(cascade_job_parse("[job]\nkind = x\n", "ckpt.h5:/job", NULL, 0, &job), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "ckpt.h5:/job:2: [job] kind = x"));
}

/* Long values and names, comments, CRLF and a byte order mark: libinih's limits do not show. */
static void test_lexical(void) {
    char text[8192], long_path[1001];
    memset(long_path, 'p', 1000);
    long_path[0] = '/';
    long_path[1000] = 0;
    const char *layer = "a_layer_name_longer_than_the_fifty_characters_of_libinih";
    snprintf(text, sizeof text,
             "\xEF\xBB\xBF; comment\r\n[data]\r\ntrain = %s ; trailing comment\r\n"
             "inputs = a;b\r\n  # indented comment\r\ntargets = y\r\n[train]\r\nepochs : 2\r\n"
             "[model.%s]\r\ntype = dense\r\n",
             long_path, layer);
    cascade_job job;
    cascade_status st = cascade_job_load(write_job("lexical.ini", text), NULL, 0, &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_STRING_EQUAL(job.train, long_path);
    CU_ASSERT_STRING_EQUAL(job.inputs[0], "a;b"); /* ';' without a space before is no comment */
    CU_ASSERT_EQUAL(job.epochs, 2);
    CU_ASSERT_EQUAL(job.n_layers, 1);
    CU_ASSERT_PTR_NOT_NULL(cascade_job_layer(&job, "model", layer));
    CU_ASSERT_EQUAL(cascade_section_peek(cascade_job_section(&job, "train"), "epochs")->line, 8);
    cascade_job_free(&job);
    round_trip("rt-lexical.ini", text, NULL, 0);

    /* a long line that is not key = value */
    snprintf(text, sizeof text, "[data]\n%s\n", long_path);
    EXPECT_ERROR(text, CASCADE_EUSAGE, ":2: syntax error");
}

/* A misspelled required key is named as the unknown key at its line (issue #21). */
static void test_near_spelling(void) {
    EXPECT_ERROR(edit(SUPERVISED, "epochs = 3", "epoch = 3"), CASCADE_EUSAGE, ":20:",
                 "unknown key 'epoch' in [train]", "did you mean 'epochs'?");
    EXPECT_ERROR(edit(SUPERVISED, "inputs = time", "input = time"), CASCADE_EUSAGE, ":11:",
                 "unknown key 'input' in [data]", "did you mean 'inputs'?");
    /* far from every required key: still the missing key at the section's line */
    EXPECT_ERROR(edit(SUPERVISED, "epochs = 3", "duration = 3"), CASCADE_EUSAGE, ":17:", "[train] needs epochs");
}

/* --resume: the checkpoint's job against this one (cascade_job_resume_check). */
static void test_resume_check(void) {
    cascade_job job, old;
    CU_ASSERT_EQUAL_FATAL(cascade_job_parse(SUPERVISED, "now.ini", NULL, 0, &job), CASCADE_OK);
    const char *split = edit(SUPERVISED, "valid_fraction = 0.1", "valid_fraction = 0.2");
    CU_ASSERT_EQUAL_FATAL(cascade_job_parse(split, "then.ini", NULL, 0, &old), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_job_resume_check(&job, old.text, "ck.h5", NULL, 0), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "checkpoint is of job 'shower'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "[data] valid_fraction = 0.1 (checkpoint: 0.2)"));
    const char *set[] = {"data.valid_fraction=0.1"};
    CU_ASSERT_EQUAL(cascade_job_resume_check(&job, old.text, "ck.h5", set, 1), CASCADE_OK);
    cascade_job_free(&old);
    /* a layer more, and one key fewer: both named */
    const char *model = edit(SUPERVISED, "filters = 16\n", "filters = 16\nstride = 2\n");
    CU_ASSERT_EQUAL_FATAL(cascade_job_parse(model, "then.ini", NULL, 0, &old), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_job_resume_check(&job, old.text, "ck.h5", NULL, 0), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "[model.conv1] stride = (not set) (checkpoint: 2)"));
    cascade_job_free(&old);
    /* a data file moved (same name, other directory) is allowed; another file is not */
    CU_ASSERT_EQUAL_FATAL(cascade_job_parse(edit(SUPERVISED, "data/train.h5", "/scratch/u/train.h5"), "then.ini", NULL, 0,
                                            &old), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_job_resume_check(&job, old.text, "ck.h5", NULL, 0), CASCADE_OK);
    cascade_job_free(&old);
    CU_ASSERT_EQUAL_FATAL(cascade_job_parse(edit(SUPERVISED, "data/train.h5", "data/other.h5"), "then.ini", NULL, 0, &old),
                          CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_job_resume_check(&job, old.text, "ck.h5", NULL, 0), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "[data] train = data/train.h5 (checkpoint: data/other.h5)"));
    cascade_job_free(&old);
    /* the learning rate and the length are the user's to change */
    static char lr_only[8192]; /* edit() returns one static buffer */
    snprintf(lr_only, sizeof lr_only, "%s", edit(SUPERVISED, "lr = 0.05", "lr = 0.01"));
    const char *lr = edit(lr_only, "epochs = 3", "epochs = 9");
    CU_ASSERT_EQUAL_FATAL(cascade_job_parse(lr, "then.ini", NULL, 0, &old), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_job_resume_check(&job, old.text, "ck.h5", NULL, 0), CASCADE_OK);
    cascade_job_free(&old);
    cascade_job_free(&job);
}

int main(void) {
    const char *build = getenv("CASCADE_BUILD_DIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test_job_tmp", build ? build : ".");
    mkdir(tmp_dir, 0755);
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite suite = CU_add_suite("job", NULL, NULL);
    CU_add_test(suite, "supervised job", test_supervised);
    CU_add_test(suite, "defaults", test_defaults);
    CU_add_test(suite, "gan, refiner, autoencoder, optimizer inheritance", test_gan_and_inheritance);
    CU_add_test(suite, "adversarial defaults and refiner keys", test_adversarial_defaults);
    CU_add_test(suite, "file errors", test_file_errors);
    CU_add_test(suite, "syntax errors", test_syntax_errors);
    CU_add_test(suite, "section errors", test_section_errors);
    CU_add_test(suite, "10^5 sections", test_many_sections);
    CU_add_test(suite, "epochs and steps that would overflow", test_huge_counts);
    CU_add_test(suite, "key errors", test_key_errors);
    CU_add_test(suite, "[train] and [data] keys per kind", test_keys_per_kind);
    CU_add_test(suite, "--set overrides", test_overrides);
    CU_add_test(suite, "round trip of the job as run", test_round_trip);
    CU_add_test(suite, "comments, long lines, CRLF, BOM", test_lexical);
    CU_add_test(suite, "a misspelled required key", test_near_spelling);
    CU_add_test(suite, "--resume: the checkpoint's job against this one", test_resume_check);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
