/* Supervised training: global batches split into micro-batches, dealt to ranks in contiguous
 * blocks; gradients summed over ranks (MPI_Allreduce), optimizer step, validation per epoch,
 * metrics.jsonl, atomic checkpoints, resume and signal-triggered checkpoints. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cascade/h5io.h"
#include "eval/metrics.h"
#include "nn/loss.h"
#include "train/model.h"
#include "train/session.h"
#include "train/train.h"

/* One step over the global batch starting at perm[cursor]: this rank's micro-batches.
 * Returns the loss sum of this rank's samples in *loss_sum (not yet reduced). */
static void local_step(cascade_session *s, int64_t step, double *loss_sum) {
    cascade_job *job = s->job;
    int mb = (int)job->micro_batch;
    int64_t nmb = job->batch / job->micro_batch;
    int64_t first = nmb * s->rank / s->size, last = nmb * (s->rank + 1) / s->size;
    memset(s->net.grads, 0, (size_t)s->net.n_params * sizeof(float));
    double sum = 0;
    for (int64_t m = first; m < last; m++) {
        int64_t base = s->prog.cursor + m * mb;
        for (int i = 0; i < mb; i++) {
            s->idx[i] = s->perm[base + i];
            s->ids[i] = s->prog.epoch * s->train.n + base + i;
        }
        cascade_data_gather(&s->train, s->idx, mb, s->xb, s->yb);
        cascade_run run = {.n = mb, .training = 1, .update_stats = 1, .sample_ids = s->ids, .step = (uint64_t)step};
        run.ext[0] = s->xb;
        cascade_net_forward(&s->net, &run);
        sum += cascade_loss(job->loss, mb, s->out_numel, s->classes, cascade_net_output(&s->net), s->yb, s->dout,
                            (float)(1.0 / (double)(job->batch * s->terms_per_sample)));
        cascade_net_backward(&s->net, &run, s->dout);
    }
    *loss_sum = sum;
}

static int all_finite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

cascade_status cascade_train_supervised(cascade_job *job, const cascade_train_opts *o, MPI_Comm comm) {
    cascade_session s;
    cascade_status st = cascade_session_open(&s, job, o, comm);
    if (st) return st;
    int64_t B = job->batch, nonfinite_run = 0;
    double t0 = cascade_now(), t_log = t0, loss_acc = 0;
    int64_t steps_acc = 0;
    while (!st && s.prog.step < s.total_steps) {
        if (s.prog.cursor == 0 || !s.perm_valid) cascade_session_shuffle(&s);
        int64_t step = s.prog.step;
        double local, loss_sum;
        local_step(&s, step, &local);
        /* sum gradients and loss over ranks (fast mode: MPI's reduction order) */
        if (s.size > 1) {
            if (MPI_Allreduce(MPI_IN_PLACE, s.net.grads, (int)s.net.n_params, MPI_FLOAT, MPI_SUM, comm) != MPI_SUCCESS)
                st = cascade_fail(CASCADE_EINTERNAL, "MPI_Allreduce of gradients failed at step %lld", (long long)step);
        }
        MPI_Allreduce(&local, &loss_sum, 1, MPI_DOUBLE, MPI_SUM, comm);
        if (st) break;
        double loss = loss_sum / (double)(B * s.terms_per_sample);
        int ok = isfinite(loss) && all_finite(s.net.grads, s.net.n_params);
        double lr = cascade_lr_at(&job->opt[0], step, s.total_steps);
        if (ok) {
            cascade_optimizer_update(&s.opt, s.net.params, s.net.grads, 0, s.net.n_params, lr);
            nonfinite_run = 0;
        } else if (++nonfinite_run >= CASCADE_MAX_NONFINITE) {
            st = cascade_fail(CASCADE_EDATA, "loss or gradients were NaN/Inf in %d steps in a row (last at step %lld); "
                              "stopping without writing a checkpoint", CASCADE_MAX_NONFINITE, (long long)step + 1);
            break;
        } else {
            cascade_log("\nstep %lld: loss or gradients NaN/Inf, step skipped\n", (long long)step + 1);
        }
        /* running statistics: rank 0's buffers are the net's (as DDP's broadcast_buffers) */
        if (s.size > 1 && s.net.n_buffers) MPI_Bcast(s.net.buffers, (int)s.net.n_buffers, MPI_FLOAT, 0, comm);
        s.prog.step++;
        s.prog.samples_seen += B;
        s.prog.cursor += B;
        if (ok) loss_acc += loss, steps_acc++;
        int epoch_end = s.prog.cursor + B > s.train.n;
        if (s.prog.step % job->log_every == 0 || s.prog.step == s.total_steps || epoch_end) {
            double now = cascade_now();
            double rate = (double)(steps_acc * B) / (now - t_log > 1e-9 ? now - t_log : 1e-9);
            cascade_session_log_train(&s, steps_acc ? loss_acc / (double)steps_acc : NAN, lr, rate, now - t0);
            loss_acc = 0;
            steps_acc = 0;
            t_log = now;
        }
        if (epoch_end) {
            st = cascade_session_validate(&s, cascade_now() - t0);
            s.prog.epoch++;
            s.prog.cursor = 0;
        }
        int stop = o->stop_flag ? (int)*o->stop_flag : 0, any_stop = 0;
        MPI_Allreduce(&stop, &any_stop, 1, MPI_INT, MPI_MAX, comm);
        int due = job->checkpoint_every > 0 && s.prog.step % job->checkpoint_every == 0;
        if (!st && (due || any_stop || s.prog.step == s.total_steps)) st = cascade_session_checkpoint(&s);
        if (!st && any_stop) {
            cascade_log("\nstopped by a signal at step %lld after writing a checkpoint\n", (long long)s.prog.step);
            st = CASCADE_ESTOPPED;
        }
    }
    if (!st && !s.validated_at_end) st = cascade_session_validate(&s, cascade_now() - t0);
    cascade_session_close(&s);
    return st;
}
