/* cascade train JOB.ini [-o|--out RUNDIR] [--resume auto|CKPT.h5] [--init CKPT.h5]
 *                       [--set SECTION.KEY=VALUE]... [--steps N] [--timeline FILE] [--quiet] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cascade/h5io.h"
#include "cascade/trace.h"
#include "cli/cli.h"
#include "data/data.h"
#include "io/fsops.h"
#include "parallel/timeline.h"
#include "train/train.h"

static const char help[] =
    "usage: cascade train JOB.ini [-o|--out RUNDIR] [--resume auto|CKPT.h5] [--init CKPT.h5]\n"
    "                     [--set SECTION.KEY=VALUE]... [--steps N] [--timeline FILE] [--quiet]\n"
    "\n"
    "Trains the job's model. RUNDIR (default runs/<job name>) receives job.ini, metrics.jsonl and\n"
    "checkpoints/. --resume auto continues from checkpoints/LATEST if present; --init loads\n"
    "parameters only (fine-tuning). SIGUSR1/SIGTERM: checkpoint at the next step, exit 75.\n"
    "RUNDIR is locked (RUNDIR/.lock) while the run lasts: a second train on it is refused.\n"
    "--timeline FILE writes a Chrome/Perfetto trace of every rank (open it in ui.perfetto.dev or\n"
    "chrome://tracing): forward/backward per layer, reductions, optimizer, input, checkpoints.\n";

/* events per rank in a --timeline (about 80 bytes each); later ones are counted, not kept */
#define CLI_TIMELINE_EVENTS (1 << 19)

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* --resume: the checkpoint's job against this one (cascade_job_resume_check). A checkpoint that
 * cannot be opened here is left to the trainer (which falls back or names the damage). */
static cascade_status check_resume(cascade_job *job, const cascade_train_opts *o, const char *rundir,
                                   const char *const *sets, int n_sets, MPI_Comm comm) {
    char dir[CASCADE_PATH_MAX + 16], path[CASCADE_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/checkpoints", rundir);
    const char *from = o->resume == 2 ? o->resume_path : dir;
    cascade_h5file *f = NULL;
    cascade_ckpt_meta meta = {0};
    if (cascade_ckpt_resolve(from, path, sizeof path) || cascade_ckpt_open(path, comm, &f)) {
        cascade_clear_error();
        return CASCADE_OK;
    }
    cascade_status st = cascade_ckpt_read_meta(f, &meta);
    cascade_h5_close(f);
    if (st) {
        cascade_clear_error();
        cascade_ckpt_meta_free(&meta);
        return CASCADE_OK;
    }
    st = cascade_job_resume_check(job, meta.job ? meta.job : "", path, sets, n_sets);
    cascade_ckpt_meta_free(&meta);
    return st;
}

/* A data error while loading --init/--resume CKPT (a missing normalisation, a parameter of
 * another shape) from a checkpoint of another job: the message names that job and its inputs.
 * The file is opened by this rank alone (other ranks may be elsewhere). */
static void name_foreign_job(const cascade_job *job, const char *from) {
    char path[CASCADE_PATH_MAX], msg[2048];
    cascade_h5file *f = NULL;
    cascade_ckpt_meta meta = {0};
    snprintf(msg, sizeof msg, "%s", cascade_errmsg());
    if (cascade_ckpt_resolve(from, path, sizeof path) || cascade_ckpt_open(path, MPI_COMM_SELF, &f)) goto out;
    cascade_job old;
    int ok = cascade_ckpt_read_meta(f, &meta) == CASCADE_OK && meta.job &&
             cascade_job_parse(meta.job, path, NULL, 0, &old) == CASCADE_OK;
    cascade_h5_close(f);
    if (!ok) goto out;
    char inputs[2][512] = {"", ""};
    const cascade_job *jobs[2] = {&old, job};
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < jobs[j]->n_inputs; i++)
            snprintf(inputs[j] + strlen(inputs[j]), sizeof inputs[j] - strlen(inputs[j]), "%s%s", i ? ", " : "",
                     jobs[j]->inputs[i]);
    if (strcmp(old.name, job->name) || strcmp(inputs[0], inputs[1]))
        cascade_fail(CASCADE_EDATA, "%s (the checkpoint is of job '%s' with inputs %s; this job '%s' has inputs %s)", msg,
                     old.name, inputs[0], job->name, inputs[1]);
    cascade_job_free(&old);
out:
    cascade_ckpt_meta_free(&meta);
    if (strncmp(cascade_errmsg(), msg, strlen(msg)) != 0) cascade_fail(CASCADE_EDATA, "%s", msg);
}

int cli_train(int argc, char **argv, MPI_Comm comm) {
    const char *job_path = NULL, *timeline = NULL;
    const char *sets[256];
    int n_sets = 0;
    cascade_train_opts o = {0};
    o.stop_flag = &stop_requested;
    cascade_data_set_stop_flag(&stop_requested); /* loading the data stops too */
    /* first thing: a SLURM warning signal during start-up must not kill the rank */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (cli_is_help(a)) {
            if (cascade_log_rank() == 0) fputs(help, stdout);
            return 0;
        } else if (cli_is_out(a) && more) {
            o.out_dir = argv[++i];
        } else if (strcmp(a, "--resume") == 0 && more) {
            const char *v = argv[++i];
            if (strcmp(v, "auto") == 0) {
                o.resume = 1;
            } else {
                o.resume = 2;
                o.resume_path = v;
            }
        } else if (strcmp(a, "--init") == 0 && more) {
            o.init_path = argv[++i];
        } else if (strcmp(a, "--set") == 0 && more) {
            if (n_sets == 256) return cascade_fail(CASCADE_EUSAGE, "too many --set options"), cli_error(2);
            sets[n_sets++] = argv[++i];
        } else if (strcmp(a, "--steps") == 0 && more) {
            char *end;
            o.steps = strtol(argv[++i], &end, 10);
            if (*end || o.steps <= 0)
                return cascade_fail(CASCADE_EUSAGE, "--steps %s: expected a positive integer", argv[i]), cli_error(2);
        } else if (strcmp(a, "--timeline") == 0 && more) {
            timeline = argv[++i];
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
        } else if (a[0] != '-' && !job_path) {
            job_path = a;
        } else {
            cascade_fail(CASCADE_EUSAGE, "train: unexpected argument '%s'%s", a,
                         more || a[0] != '-' ? "" : " (missing value?)");
            if (cascade_log_rank() == 0) fputs(help, stderr);
            return cli_error(2);
        }
    }
    if (!job_path) {
        if (cascade_log_rank() == 0) fputs(help, stderr);
        return 2;
    }
    if (o.resume && o.init_path)
        return cascade_fail(CASCADE_EUSAGE, "--resume and --init exclude each other"), cli_error(2);
    cascade_log_set_quiet(0);
    cascade_job job;
    cascade_status st = cascade_job_load(job_path, sets, n_sets, &job);
    if (st) return cli_error(st);
    /* the run directory is ours before job.ini is written or checkpoints are looked at */
    char rundir[CASCADE_PATH_MAX];
    cascade_train_rundir(&job, &o, rundir);
    int lock = -1;
    st = cascade_rundir_lock(rundir, comm, &lock);
    if (st == CASCADE_OK && o.resume) st = check_resume(&job, &o, rundir, sets, n_sets, comm);
    int tracing = st == CASCADE_OK && timeline;
    if (tracing) st = cascade_trace_start(CLI_TIMELINE_EVENTS);
    if (st == CASCADE_OK) st = cascade_train(&job, &o, comm);
    if (tracing) { /* also after a failed run: the trace shows how far it got */
        int64_t dropped = cascade_trace_dropped();
        cascade_status tst = cascade_timeline_write(timeline, comm);
        if (tst && !st) st = tst;
        else if (!tst) cascade_log("timeline written to %s%s\n", timeline,
                                   dropped ? " (later events dropped: the buffer was full)" : "");
    }
    cascade_rundir_unlock(lock);
    const char *from = o.init_path ? o.init_path : o.resume == 2 ? o.resume_path : NULL;
    if (st == CASCADE_EDATA && from) name_foreign_job(&job, from);
    cascade_job_free(&job);
    if (st == CASCADE_ESTOPPED) return 75;
    return st ? cli_error(st) : 0;
}
