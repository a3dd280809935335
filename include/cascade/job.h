/* Job files (INI, CONTRACT.md "Job files") -> validated job struct.
 * Generic sections keep file:line for every key; the typed fields below are the validated
 * values of [job], [data], [train], [optimizer] / [optimizer.NET], [gan] / [refiner].
 * Layer sections [NET.LAYER] are kept in file order as `layers` and validated by the graph
 * builder (each op parses its own keys), which marks keys used. */
#ifndef CASCADE_JOB_H
#define CASCADE_JOB_H

#include "cascade/config.h"
#include "cascade/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CASCADE_MAX_NETS 4
#define CASCADE_MAX_NAMES 16
#define CASCADE_PATH_MAX 4096

typedef enum { JOB_SUPERVISED, JOB_AUTOENCODER, JOB_GAN, JOB_WGAN, JOB_WGAN_GP, JOB_REFINER } cascade_job_kind;
typedef enum { LOSS_MSE, LOSS_MAE, LOSS_HUBER, LOSS_BCE, LOSS_CE, LOSS_ANGULAR } cascade_loss_kind;
typedef enum { LAYOUT_CHANNELS, LAYOUT_FEATURES } cascade_layout;
typedef enum { NORM_NONE, NORM_STANDARD } cascade_norm;


typedef struct {
    char path[CASCADE_PATH_MAX]; /* job file as given */
    char *origin;                /* same, owned: the `file` of every section (survives struct copies) */
    char *text;                  /* job as run (after --set), INI text, for RUNDIR/job.ini and checkpoints */

    /* [job] */
    char name[128];                        /* [job file name without .ini] */
    cascade_job_kind kind;
    long seed;                             /* [1] */
    char latent_layer[64];                 /* autoencoder: the layer whose output is the latent code ("" = none) */
    int n_nets;
    char nets[CASCADE_MAX_NETS][64];       /* [model]; gan kinds [generator, critic]; refiner
                                              [refiner, critic]: nets[0] generates, nets[1] judges */

    /* [data] */
    char train[CASCADE_PATH_MAX];          /* required; relative paths resolved against cwd */
    char valid[CASCADE_PATH_MAX];          /* "" if none */
    double valid_fraction;                 /* [0]; exclusive with valid */
    char target_file[CASCADE_PATH_MAX];    /* refiner: `target` */
    int n_inputs;
    char inputs[CASCADE_MAX_NAMES][64];
    int n_targets;
    char targets[CASCADE_MAX_NAMES][64];
    int n_conditions;
    char conditions[CASCADE_MAX_NAMES][64];
    cascade_layout layout;                 /* [channels] */
    cascade_norm normalize;                /* [none] */
    int shuffle;                           /* [true] */
    int n_log_inputs;                      /* inputs read as log10(1 + x) (values must be >= 0) */
    char log_inputs[CASCADE_MAX_NAMES][64];
    cascade_norm normalize_targets;        /* [none] standard: regression targets standardised for
                                              training; outputs and metrics in physical units */
    double memory_budget_mb;               /* [4096] per rank: preload the training set when it fits,
                                              else read each step's samples from the file */

    /* [train] */
    long batch;                            /* global batch [128] */
    long micro_batch;                      /* [= batch]; batch % micro_batch == 0 checked */
    long epochs;                           /* exactly one of epochs/steps (both or none: error); */
    long steps;                            /* the other is 0 */
    int n_class_weights;                   /* loss = ce: [train] class_weights (0 = unweighted) */
    double class_weights[256];
    cascade_loss_kind loss;                /* [mse]; adversarial kinds: not settable */
    int deterministic;                     /* [false] */
    long checkpoint_every;                 /* [500] steps; 0 = only at the end */
    long keep_checkpoints;                 /* [3]; 0 = keep all */
    long log_every;                        /* [10] steps between progress lines */
    long max_nonfinite;                    /* [5] NaN/Inf steps in a row before the run stops (exit 3) */
    long early_stopping;                   /* [0] validations without a lower loss before the run
                                              stops; 0 = off. The best step's checkpoint: BEST */
    double bucket_mb;                      /* [25] gradient allreduce bucket size (fast mode) */
    long zero;                             /* [0] 1: ZeRO-1, optimizer state sharded over ranks */

    /* [optimizer] and [optimizer.NET]: opt[i] is for nets[i] (defaults from [optimizer]) */
    cascade_opt_cfg opt[CASCADE_MAX_NETS];

    /* [gan] / [refiner] */
    long latent;                           /* [64] */
    long critic_steps;                     /* [5] */
    double gp_lambda;                      /* [10] */
    double clip;                           /* [0.01] */
    double self_regularization;            /* [0.1] refiner: weight of mean |R(x) - x| */
    int one_sided;                         /* [false] wgan-gp/refiner: penalty max(0, |g| - 1)^2 */
    int critic_bce;                        /* refiner critic_loss: 0 wgan-gp [default], 1 bce (patch critic) */
    long history;                          /* refiner: [0] samples in the history buffer of refined
                                              samples feeding half of each critic batch (0 = off) */
    long pretrain_steps;                   /* refiner: [0] first updates on self_regularization alone */
    char constrainer[CASCADE_PATH_MAX];    /* gan kinds with conditions: a trained supervised run (or
                                              checkpoint) whose prediction on generated samples must
                                              match the condition ("" = none) */
    double constrainer_weight;             /* [1] its mse term's weight in the generator loss */
    long sample_every;                     /* [0] a PNG of generated (refined) samples every N steps */
    int n_gen_outputs;                     /* gan kinds: [gan] outputs = one generator layer per input
                                              (0 = the inputs form one stacked x); the critic then reads
                                              each input by its data-set name */
    char gen_outputs[CASCADE_MAX_NAMES][64];

    /* Every section in file order (including layer sections); layers index into it. */
    int n_sections;
    cascade_section *sections;
    /* Layer sections [NET.LAYER] in file order: indices into `sections`. */
    int n_layers;
    int *layers;
} cascade_job;

/* Parses and validates `path`, applying overrides "section.key=value" (validated the same
 * way, reported as "--set section.key"). Errors: CASCADE_EUSAGE (file:line and key),
 * CASCADE_EIO (cannot read the file). On error *job is left freed. */
cascade_status cascade_job_load(const char *path, const char *const *overrides, int n_overrides,
                                cascade_job *job);
/* Same from INI text (e.g. read back from a checkpoint); `origin` names it in messages. */
cascade_status cascade_job_parse(const char *text, const char *origin, const char *const *overrides,
                                 int n_overrides, cascade_job *job);
void cascade_job_free(cascade_job *job);
/* Finds a section by name ("data", "optimizer.critic", "model.conv1"); NULL if absent. Its
 * key lines let later stages name FILE:LINE (e.g. a data set missing from the HDF5 file). */
cascade_section *cascade_job_section(cascade_job *job, const char *name);
/* Finds a layer section by net and layer name; NULL if absent. */
cascade_section *cascade_job_layer(cascade_job *job, const char *net, const char *layer);
/* Net and layer name of a layer section ("model", "conv1" of "model.conv1"), each into 64 bytes. */
void cascade_job_split_layer(const cascade_section *s, char *net, char *layer);
/* Writes job->text to path (RUNDIR/job.ini) through PATH.tmp and a rename, so a symbolic link
 * at PATH is replaced, never written through. */
cascade_status cascade_job_write(const cascade_job *job, const char *path);
/* `--resume`: compares the job with the checkpoint's (its INI text); a difference in the data
 * or the model ([data], [job] kind/seed/nets, [train] batch/loss, layers) that the overrides
 * `sets` do not name fails with CASCADE_EUSAGE naming the checkpoint's job and every such key;
 * other differences are logged. A checkpoint job that does not parse is left to the reader. */
cascade_status cascade_job_resume_check(cascade_job *job, const char *ckpt_job_text, const char *ckpt_path,
                                        const char *const *sets, int n_sets);
/* Index of the optimizer config for a net (0 when it is the first net). -1 if unknown. */
int cascade_job_net_index(const cascade_job *job, const char *net);

#ifdef __cplusplus
}
#endif
#endif
