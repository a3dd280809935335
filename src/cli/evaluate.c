/* cascade evaluate RUNDIR|CKPT.h5 [--data FILE.h5] [--out METRICS.json] */
#include <stdio.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cli/cli.h"
#include "cascade/h5io.h"
#include "train/train.h"

static const char help[] =
    "usage: cascade evaluate RUNDIR|CKPT.h5 [--data FILE.h5] [--out METRICS.json] [--plots DIR]\n"
    "                        [--anomaly-label NAME]\n"
    "\n"
    "Runs the trained model on FILE.h5 (default: the job's validation data) and writes the loss\n"
    "and task metrics as JSON: per regression target bias, resolution (std of the residual) and\n"
    "RMSE; for classification accuracy and ROC AUC; for loss = angular the angle quantiles.\n"
    "Autoencoders: reconstruction_mse/mae; --anomaly-label NAME (a 0/1 data set of FILE.h5): ROC AUC\n"
    "of the anomaly score (the per-sample reconstruction error, mean over its elements).\n"
    "--plots DIR: also DIR/predictions.h5 and the plots for the task (tools/plot_evaluation.py,\n"
    "run with $CASCADE_PYTHON or /usr/bin/python3; $CASCADE_TOOLS points at tools/ if moved).\n";

int cli_evaluate(int argc, char **argv, MPI_Comm comm) {
    const char *ckpt = NULL, *data = NULL, *out = NULL, *plots = NULL, *anomaly = NULL;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        if (cli_is_help(argv[i])) {
            if (cascade_log_rank() == 0) fputs(help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--data") == 0 && more) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--plots") == 0 && more) {
            plots = argv[++i];
        } else if (strcmp(argv[i], "--anomaly-label") == 0 && more) {
            anomaly = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0 && more) {
            out = argv[++i];
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
    char metrics[CASCADE_PATH_MAX + 32], preds[CASCADE_PATH_MAX + 32];
    if (plots) { /* the plots need the metrics and predictions as files */
        if (cascade_mkdir_p(plots)) return cli_error(4);
        snprintf(metrics, sizeof metrics, "%s/metrics.json", plots);
        snprintf(preds, sizeof preds, "%s/predictions.h5", plots);
        if (!out) out = metrics;
    }
    cascade_status st = cascade_evaluate(ckpt, data, out, anomaly, plots ? preds : NULL, comm);
    if (st) return cli_error(st);
    if (!plots) return 0;
    if (out != metrics && cascade_log_rank() == 0) { /* keep a copy beside the plots */
        FILE *a = fopen(out, "r"), *b = fopen(metrics, "w");
        int c;
        while (a && b && (c = fgetc(a)) != EOF) fputc(c, b);
        if (a) fclose(a);
        if (b) fclose(b);
    }
    return cli_run_plot_evaluation(ckpt, preds, metrics, plots);
}

/* cascade predict RUNDIR|CKPT.h5 --data FILE.h5 -o OUT.h5 */
static const char predict_help[] =
    "usage: cascade predict RUNDIR|CKPT.h5 --data FILE.h5 -o OUT.h5\n"
    "\n"
    "Writes the model's outputs per sample to OUT.h5 as `output` (N, output shape; regression\n"
    "outputs in physical units, classification logits), with copies of the job's target data\n"
    "sets when FILE.h5 has them. Runs under mpirun too (the ranks share the samples).\n";

int cli_predict(int argc, char **argv, MPI_Comm comm) {
    const char *ckpt = NULL, *data = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        if (cli_is_help(argv[i])) {
            if (cascade_log_rank() == 0) fputs(predict_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--data") == 0 && more) {
            data = argv[++i];
        } else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--out") == 0) && more) {
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
    cascade_status st = cascade_predict(ckpt, data, out, comm);
    return st ? cli_error(st) : 0;
}
