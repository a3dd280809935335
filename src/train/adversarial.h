/* The state shared by adversarial training (gan.c) and the refiner's parts (refiner.c). */
#ifndef CASCADE_TRAIN_ADVERSARIAL_H
#define CASCADE_TRAIN_ADVERSARIAL_H

#include "train/gan.h"
#include "train/session.h"

/* A frozen regression model on the generated samples (constrainer.c). */
typedef struct {
    int open;
    cascade_job job;
    cascade_net net;
    cascade_norm_stats tnorm;   /* its normalize_targets, or n = 0 */
    double *scale, *shift;      /* per element of x: the GAN's normalised x -> the constrainer's */
    float *w, *dout;
    int64_t xs, outs;
} cascade_constrainer;

#define GAN_GEN_PHASE 255 /* counter phase of the generator update (critic updates: 0..254) */
#define GAN_MAX_CRITIC_STEPS 254
/* doubles summed per micro-batch: critic (loss, D(real), D(fake), penalty); generator
 * (batch-norm statistics, adversarial loss, L1 self-regularization, constrainer error) */
#define GAN_CRITIC_DOUBLES 4
#define GAN_GEN_DOUBLES(s) ((int)(s)->gen.n_stats + 3)

/* Loss sums of the finite steps since the last progress line, and their count. */
typedef struct {
    double critic, gen, wass, gp, selfreg;
    int64_t n;
} gan_means;

typedef struct {
    cascade_training base;  /* first: the loop's view (base.prog.step = generator updates; cursor and
                             * epoch over base.train, the real samples) */
    int refiner;            /* kind = refiner: `gen` is the refiner, its input a simulated sample */
    /* base.train: gan: the real samples; refiner: the simulation (x normalised; y: the
     * conditions, or NULL) */
    cascade_dataset target; /* refiner: the measured-domain samples the critic sees as real (input
                             * 0 with outputs; tin[k]: input k >= 1) */
    cascade_dataset tin[CASCADE_MAX_NAMES];
    /* the samples x: one stacked tensor, or (gan `outputs`) one per input — train holds input
     * 0 (and the conditions), xin[k] input k >= 1; batches of x are input-major: input k of
     * m samples at offset m * gx.off[k]. ndesc: one normalisation statistic per input. */
    cascade_gan_x gx;
    cascade_dataset xin[CASCADE_MAX_NAMES], ndesc;
    int gen_out[CASCADE_MAX_NAMES];
    float *fakeb;
    cascade_norm_stats norm;
    int64_t xs, cs, zs;     /* per-sample sizes of x, c and z */
    int64_t scores;         /* critic outputs per sample (1; a refiner's patch critic: more) */
    cascade_net gen, critic;
    cascade_optimizer gopt, copt;
    int64_t last_base;      /* cursor of the last critic batch (the generator's conditions) */
    float *xb, *cb, *zb, *hat, *dout, *v;
    /* refiner: a simulated micro-batch, the refined global batch (every rank: all of it),
     * the critic's fake micro-batch, the history buffer (hist_cap samples, hist_n filled) and
     * a fixed permutation of the target samples; critic_updates counts critic updates */
    float *sb, *fake_all, *fake_mb, *hist;
    int64_t hist_n, hist_cap, critic_updates;
    int64_t *perm_t;
    cascade_constrainer constrainer; /* gan kinds with `constrainer` */
    /* the data-parallel side of each net: gradient reduction (its buckets start as the last
     * local micro-batch's final backward finishes them) and optimizer shards (ZeRO-1, and
     * always in deterministic mode) */
    cascade_reducer gen_red, critic_red;
    cascade_shards gen_shards, critic_shards;
    float *gen_grads_own, *critic_grads_own; /* the nets' own gradient buffers */
    double *facc, *dvals;   /* the step's summed doubles, one micro-batch's */
    float *grads_sum;       /* the last reduced net's summed gradients (valid on this rank's shard) */
    int nonfinite;          /* ... and whether any of its terms was NaN/Inf (every rank agrees) */
    double t_comm;          /* gathers (reductions: in the reducers) */
    /* the progress line: loss means of the finite steps since the last, and the last step's
     * learning rates and whether it was a refiner's pretraining step */
    gan_means means;
    double lr_g, lr_c;
    int pretraining;
} gan_session;

/* gan_setup.c */
/* The adversarial kind's open and close (gan_setup.c): data, nets (built, or read back when
 * resuming), optimizers, buffers, run directory. */
cascade_status cascade_gan_session_open(cascade_training *t, cascade_job *job, const cascade_train_opts *o,
                                        MPI_Comm comm);
void cascade_gan_session_close(cascade_training *t);

/* refiner.c */
/* Buffers of the refiner: history, refined batch, target permutation. */
cascade_status cascade_refiner_alloc(gan_session *s);
void cascade_refiner_free(gan_session *s);
/* Gathers the refined global batch to every rank (fake_all holds this rank's block). */
cascade_status cascade_refiner_share_batch(gan_session *s);
/* The critic's fake samples for global positions [pos, pos + m): the current refined batch,
 * with the second half of the global batch drawn from the history buffer once it holds
 * samples (Shrivastava et al. 2017); into fake_mb. */
void cascade_refiner_fake_batch(gan_session *s, uint64_t ctr, int64_t pos, int m);
/* After a critic update: the first half of the refined batch enters the history buffer
 * (appended until full, then replacing Philox-chosen samples). */
void cascade_refiner_remember(gan_session *s, uint64_t ctr);
/* History and counters in/out of checkpoints (/refiner). */
cascade_status cascade_refiner_write(cascade_h5writer *w, gan_session *s);
cascade_status cascade_refiner_read(cascade_h5file *f, gan_session *s);

/* constrainer.c: loads job->constrainer for samples like train's (conditions in train.y);
 * errors name the run and what does not fit. */
cascade_status cascade_constrainer_open(cascade_constrainer *k, const cascade_job *gan, const cascade_dataset *train,
                                        const cascade_norm_stats *gnorm, int mb, MPI_Comm comm);
/* For m generated samples x (the GAN's normalised space) and their conditions c: adds the
 * gradient of weight * sum (C(x) - c)^2 / norm to dx; returns the sum of squared errors. */
double cascade_constrainer_apply(cascade_constrainer *k, const float *x, const float *c, int m, double norm,
                                 double weight, float *dx);
void cascade_constrainer_close(cascade_constrainer *k);

#endif
