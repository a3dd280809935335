/* cascade evaluate RUNDIR|CKPT.h5 [--data FILE.h5] [-o|--out METRICS.json] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cli/cli.h"
#include "cascade/h5io.h"
#include "apps/apps.h"
#include "apps/gan_eval.h"
#include "io/fsops.h"

static const char help[] =
    "usage: cascade evaluate RUNDIR|CKPT.h5 [--data FILE.h5] [-o|--out METRICS.json] [--plots DIR]\n"
    "                        [--anomaly-label NAME] [--force]\n"
    "\n"
    "Runs the trained model on FILE.h5 (default: the job's validation data) and writes the loss\n"
    "and task metrics as JSON: per regression target bias, resolution (std of the residual) and\n"
    "RMSE; for classification accuracy, ROC AUC and confusion_matrix (counts, rows = true class,\n"
    "columns = predicted), with per-pixel labels (segmentation) also iou_K per class K and mean_iou;\n"
    "for loss = angular the angle quantiles. Under mpirun each rank runs its own samples and the\n"
    "metrics are combined exactly: the same JSON on any number of ranks.\n"
    "Autoencoders: reconstruction_mse/mae; --anomaly-label NAME (a 0/1 data set of FILE.h5): ROC AUC\n"
    "of the anomaly score (the per-sample reconstruction error, mean over its elements).\n"
    "--plots DIR: also DIR/predictions.h5 and the plots for the task (tools/plot_evaluation.py,\n"
    "run with $CASCADE_PYTHON or /usr/bin/python3; $CASCADE_TOOLS points at tools/ if moved).\n"
    "\n"
    "GAN runs (kind = gan, wgan, wgan-gp; docs/gan-evaluation.md): generates as many samples as the\n"
    "held-out data (FILE.h5, else the run's valid file or valid_fraction split) holds, with its\n"
    "conditions, and compares them with it: per observable (per input: sum, non-zero cells, mean,\n"
    "std; calorimeter: energies, ratios, centroids, widths, sparsity, depth; air showers: total\n"
    "signal, triggered stations, largest signal, barycentre, lateral profile) the separation\n"
    "power of the histograms, and their median. Options:\n"
    "  --samples GEN.h5       compare GEN.h5's samples instead of generating\n"
    "  --seed S               seed of the generated samples (default: the job's)\n"
    "  --bins N               histogram bins per observable (50)\n"
    "  --cell-threshold T     a cell counts as hit above T (default: trigger_vem for air showers, else 0)\n"
    "  --apply-threshold      first set cells at or below it to 0 on both sides (as the detector reads them)\n"
    "  --classifier-test      also train a DNN (2 x 512) to tell generated from real, on the cells and\n"
    "                         on the high-level observables, and report its test ROC AUC\n"
    "  --classifier-epochs E  its epochs (20)\n"
    "--plots DIR keeps DIR/real.h5, generated.h5, observables.h5 (and classifier/) and draws the\n"
    "histograms (tools/plot_gan_evaluation.py).\n"
    "Outputs appear under their names only when complete (written as NAME.tmp, then renamed); an\n"
    "output that is an input is refused, an existing one is replaced only with --force (for --plots\n"
    "DIR: its metrics.json and .h5 files).\n";

static int parse_num(const char *flag, const char *v, double lo, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= lo)) {
        cascade_fail(CASCADE_EUSAGE, "evaluate %s %s: expected a number >= %g", flag, v, lo);
        return 0;
    }
    *out = x;
    return 1;
}

int cli_evaluate(int argc, char **argv, MPI_Comm comm) {
    const char *ckpt = NULL, *data = NULL, *out = NULL, *plots = NULL, *anomaly = NULL, *gan_flag = NULL;
    int force = 0;
    cascade_gan_eval_opts g = {.nbins = 50, .classifier_epochs = 20};
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        double x;
        if (cli_is_help(argv[i])) {
            if (cascade_log_rank() == 0) fputs(help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--samples") == 0 && more) {
            gan_flag = argv[i];
            g.samples = argv[++i];
        } else if (strcmp(argv[i], "--seed") == 0 && more) {
            gan_flag = argv[i];
            if (!parse_num(argv[i], argv[i + 1], 0, &x) || x != floor(x)) return cli_error(2);
            g.seed = (uint64_t)x, g.seed_given = 1, i++;
        } else if (strcmp(argv[i], "--bins") == 0 && more) {
            gan_flag = argv[i];
            if (!parse_num(argv[i], argv[i + 1], 1, &x) || x != floor(x) || x > 100000) return cli_error(2);
            g.nbins = (int)x, i++;
        } else if (strcmp(argv[i], "--cell-threshold") == 0 && more) {
            gan_flag = argv[i];
            if (!parse_num(argv[i], argv[i + 1], 0, &x)) return cli_error(2);
            g.threshold = x, g.threshold_given = 1, i++;
        } else if (strcmp(argv[i], "--apply-threshold") == 0) {
            gan_flag = argv[i];
            g.apply_threshold = 1;
        } else if (strcmp(argv[i], "--classifier-test") == 0) {
            gan_flag = argv[i];
            g.classifier = 1;
        } else if (strcmp(argv[i], "--classifier-epochs") == 0 && more) {
            gan_flag = argv[i];
            if (!parse_num(argv[i], argv[i + 1], 1, &x) || x != floor(x) || x > 100000) return cli_error(2);
            g.classifier_epochs = (int)x, i++;
        } else if (strcmp(argv[i], "--data") == 0 && more) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--plots") == 0 && more) {
            plots = argv[++i];
        } else if (strcmp(argv[i], "--anomaly-label") == 0 && more) {
            anomaly = argv[++i];
        } else if (cli_is_out(argv[i]) && more) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (argv[i][0] != '-' && !ckpt) {
            ckpt = argv[i];
        } else {
            cascade_fail(CASCADE_EUSAGE, "evaluate: unexpected argument '%s'", argv[i]);
            return cli_error(2);
        }
    }
    if (!ckpt) {
        if (cascade_log_rank() == 0) fputs(help, stderr);
        return 2;
    }
    int gan = cascade_ckpt_is_gan(ckpt, comm);
    if (gan && anomaly)
        return cascade_fail(CASCADE_EUSAGE, "evaluate --anomaly-label is for autoencoders; %s is a GAN run", ckpt),
               cli_error(2);
    if (!gan && gan_flag)
        return cascade_fail(CASCADE_EUSAGE, "evaluate %s is for GAN runs (kind = gan, wgan, wgan-gp); %s is not one",
                            gan_flag, ckpt),
               cli_error(2);
    /* outputs: the metrics JSON, and with --plots DIR the files the plots are drawn from */
    char metrics[CASCADE_PATH_MAX + 32], files[3][CASCADE_PATH_MAX + 32], tmp[CASCADE_PATH_MAX + 40];
    static const char *const plot_files[2][3] = {{"predictions.h5"}, {"real.h5", "generated.h5", "observables.h5"}};
    const char *outputs[5] = {out}, *inputs[2] = {data, g.samples};
    int n_outputs = 1;
    if (plots) {
        snprintf(metrics, sizeof metrics, "%s/metrics.json", plots);
        outputs[n_outputs++] = metrics;
        for (int k = 0; k < 3 && plot_files[gan][k]; k++) {
            snprintf(files[k], sizeof files[k], "%s/%s", plots, plot_files[gan][k]);
            outputs[n_outputs++] = files[k];
        }
    }
    cascade_status st = cascade_outputs_check(ckpt, inputs, 2, outputs, n_outputs, force, comm);
    if (!st && plots) st = cascade_mkdir_p(plots);
    if (st) return cli_error(st);
    const char *json = out ? out : plots ? metrics : NULL; /* NULL: printed */
    if (json && (st = cascade_output_tmp(json, tmp, sizeof tmp))) return cli_error(st);
    if (gan) {
        g.ckpt = ckpt, g.data = data, g.out_json = json ? tmp : NULL, g.workdir = plots;
        st = cascade_gan_evaluate(&g, comm);
    } else {
        st = cascade_evaluate(ckpt, data, json ? tmp : NULL, anomaly, plots ? files[0] : NULL, comm);
    }
    if (json) st = cascade_output_finish(tmp, json, st, comm);
    if (st) return cli_error(st);
    if (!plots) return 0;
    if (json != metrics && cascade_log_rank() == 0 && (st = fs_copy_atomic(json, metrics))) /* a copy beside the plots */
        return cli_error(st);
    return gan ? cli_run_plot_gan(plots) : cli_run_plot_evaluation(ckpt, files[0], metrics, plots);
}

/* cascade predict RUNDIR|CKPT.h5 --data FILE.h5 -o OUT.h5 */
static const char predict_help[] =
    "usage: cascade predict RUNDIR|CKPT.h5 --data FILE.h5 -o|--out OUT.h5 [--force]\n"
    "\n"
    "Writes the model's outputs per sample to OUT.h5 as `output` (N, output shape; regression\n"
    "outputs in physical units, classification logits), with copies of the job's target data\n"
    "sets when FILE.h5 has them. Runs under mpirun too: each rank computes and writes its own\n"
    "samples' rows (the same file on any number of ranks).\n"
    "OUT.h5 appears only when complete (written as OUT.h5.tmp, then renamed); it may not be FILE.h5\n"
    "or the checkpoint, and an existing OUT.h5 is replaced only with --force.\n";

int cli_predict(int argc, char **argv, MPI_Comm comm) {
    const char *ckpt = NULL, *data = NULL, *out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        if (cli_is_help(argv[i])) {
            if (cascade_log_rank() == 0) fputs(predict_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--data") == 0 && more) {
            data = argv[++i];
        } else if (cli_is_out(argv[i]) && more) {
            out = argv[++i];
        } else if (argv[i][0] != '-' && !ckpt) {
            ckpt = argv[i];
        } else {
            cascade_fail(CASCADE_EUSAGE, "predict: unexpected argument '%s'", argv[i]);
            return cli_error(2);
        }
    }
    if (!ckpt || !data || !out) {
        if (cascade_log_rank() == 0) fputs(predict_help, stderr);
        return 2;
    }
    cascade_status st = cascade_outputs_check(ckpt, &data, 1, &out, 1, force, comm);
    if (!st) st = cascade_predict(ckpt, data, out, comm);
    return st ? cli_error(st) : 0;
}
