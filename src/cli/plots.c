/* Runs the Python plotting helpers of tools/ (Debian's python3 with matplotlib and h5py). */
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cascade/cascade.h"
#include "cascade/h5io.h"
#include "cli/cli.h"

extern char **environ;

static const char *const loss_names[] = {"mse", "mae", "huber", "bce", "ce", "angular"};

/* tools/: $CASCADE_TOOLS, the installed copy beside this binary (BINDIR/../share/cascade/tools,
 * found from /proc/self/exe, so a moved install prefix still works), or the source tree of a
 * build-tree binary. */
static const char *tools_dir(void) {
    static char dir[PATH_MAX + sizeof CASCADE_INSTALL_TOOLS + 1];
    const char *env = getenv("CASCADE_TOOLS");
    if (env && *env) return env;
    char exe[PATH_MAX], probe[sizeof dir + 32];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        snprintf(dir, sizeof dir, "%s/%s", dirname(exe), CASCADE_INSTALL_TOOLS);
        snprintf(probe, sizeof probe, "%s/plot_evaluation.py", dir);
        if (access(probe, R_OK) == 0) return dir;
    }
    if (access(CASCADE_SOURCE_TOOLS "/plot_evaluation.py", R_OK) == 0) return CASCADE_SOURCE_TOOLS;
    return len > 0 ? dir : CASCADE_INSTALL_TOOLS; /* (named in the error when missing) */
}

int cli_run_plot_evaluation(const char *ckpt, const char *preds, const char *metrics, const char *dir) {
    if (cascade_log_rank() != 0) return 0;
    /* the job the model was trained with: target names and loss */
    cascade_h5file *f;
    cascade_ckpt_meta meta = {0};
    cascade_job job;
    cascade_status st = cascade_ckpt_open(ckpt, MPI_COMM_SELF, &f);
    if (st) return cli_error(st);
    st = cascade_ckpt_read_meta(f, &meta);
    if (!st) st = cascade_job_parse(meta.job, ckpt, NULL, 0, &job);
    cascade_h5_close(f);
    cascade_ckpt_meta_free(&meta);
    if (st) return cli_error(st);
    char targets[1024] = "", inputs[1024] = "", script[4096];
    for (int i = 0; i < job.n_targets; i++)
        snprintf(targets + strlen(targets), sizeof targets - strlen(targets), "%s%s", i ? "," : "", job.targets[i]);
    for (int i = 0; i < job.n_inputs; i++) /* segmentation examples show the first input */
        snprintf(inputs + strlen(inputs), sizeof inputs - strlen(inputs), "%s%s", i ? "," : "", job.inputs[i]);
    const char *loss = loss_names[job.loss];
    const char *kind = job.kind == JOB_AUTOENCODER ? "autoencoder" : "supervised";
    cascade_job_free(&job);
    snprintf(script, sizeof script, "%s/plot_evaluation.py", tools_dir());
    const char *python = getenv("CASCADE_PYTHON");
    if (!python || !*python) python = "/usr/bin/python3";
    char *argv[] = {(char *)python, script, (char *)preds, (char *)metrics, "-o", (char *)dir,
                    "--targets", targets, "--inputs", inputs, "--loss", (char *)loss, "--kind", (char *)kind, NULL};
    pid_t pid;
    int status = 0;
    if (posix_spawn(&pid, python, NULL, NULL, argv, environ) != 0 || waitpid(pid, &status, 0) < 0) {
        cascade_fail(CASCADE_EINTERNAL, "cannot run %s %s (set CASCADE_PYTHON to a python3 with matplotlib and h5py)",
                     python, script);
        return cli_error(1);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cascade_fail(CASCADE_EINTERNAL, "%s %s failed (exit %d); the metrics and predictions are in %s", python,
                     script, WIFEXITED(status) ? WEXITSTATUS(status) : -1, dir);
        return cli_error(1);
    }
    return 0;
}

int cli_run_plot_gan(const char *dir) {
    if (cascade_log_rank() != 0) return 0;
    char script[4096], obs[CASCADE_PATH_MAX + 32], metrics[CASCADE_PATH_MAX + 32];
    snprintf(script, sizeof script, "%s/plot_gan_evaluation.py", tools_dir());
    snprintf(obs, sizeof obs, "%s/observables.h5", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.json", dir);
    const char *python = getenv("CASCADE_PYTHON");
    if (!python || !*python) python = "/usr/bin/python3";
    char *argv[] = {(char *)python, script, obs, metrics, "-o", (char *)dir, NULL};
    pid_t pid;
    int status = 0;
    if (posix_spawn(&pid, python, NULL, NULL, argv, environ) != 0 || waitpid(pid, &status, 0) < 0) {
        cascade_fail(CASCADE_EINTERNAL, "cannot run %s %s (set CASCADE_PYTHON to a python3 with matplotlib and h5py)",
                     python, script);
        return cli_error(1);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cascade_fail(CASCADE_EINTERNAL, "%s %s failed (exit %d); the metrics and observables are in %s", python, script,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1, dir);
        return cli_error(1);
    }
    return 0;
}
